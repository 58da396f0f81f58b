"""The common words of the search index: the words so frequent that tantivy would walk long posting lists to match a
phrase made of them by their positions, so the index keeps the pairs they are in ("common grams", as Lucene's
CommonGramsFilter and search engines with phrase queries over stop words do) and a phrase of them is matched on those
pairs. Every other pair, most of them said once in the whole archive, is left out of the index: a phrase with two
rarer words in a row is matched on the words' positions, starting from its rarest word.

The list is fixed (not learned from an archive, so every machine's index of one archive is the same, and an empty
archive's too). Spanish and English: the most frequent folded words of real transcripts (`bench/common_words.py`
counts them in the shared corpora, Venezolanos and Talk Python); Portuguese, French, Italian and German: the most
frequent function words of each language. A word missing here is never a wrong result, only a slower phrase; a
word here that a language never says costs nothing. Changing the list changes the index's layout (its version
includes the list's digest), so indexes made with another list are rebuilt once.
"""

from __future__ import annotations

import operator

_SPANISH = """
de la en y que el a los se del un es por no una con las lo su como para al esta fue pero era muy anos va le porque
ya tambien este mas entonces me yo sus o cuando si parte ese bueno esto ha habia eso entre sobre esa hay alli ano
ser despues mi hasta son modo donde todo desde vida estaba dos tiene vamos estos dice bien gran asi tenia nos sin uno
decir antes aqui vez hacia les quien todos sido otro otra mundo estamos otros ademas hecho luego ahora sino pues
momento e ni ella nada algo mucho tan cada mismo hace hacer creo cosa eh
"""
_ENGLISH = """
and the you that to a it i of s like so is in we for yeah this know on have but just can really there was with t or
right do re they what if at your are be about think all as one not people some then kind get lot because things out
actually how from more ve m up an my don me going something which well very want thing when them use sort time way
where would go into has other these by stuff work make also got been say doing those maybe had much who ll now good
mean little will could different first were our he she his her no yes oh okay
"""
_PORTUGUESE = """
de a o que e do da em um para com nao uma os no se na por mais as dos como mas foi ao ele das tem seu sua ou ser
quando muito ha nos ja esta eu tambem so pelo pela ate isso ela entre era depois sem mesmo aos ter seus quem nas me
esse eles voce essa vai entao pra aqui
"""
_FRENCH = """
de la le et les des en un une du que est pour qui dans a par plus pas au sur ne se il ce elle on je nous vous ils
avec son sa ses mais ou y comme tout bien fait etre c d l j n qu s m t ca
"""
_ITALIAN = """
di e il la che a in un per non del le una i sono mi si con da lo ma al ha della come io cosa questo anche gli nel se
piu tu alla ci ho gia dei me sei lei lui quando molto cosi ne era hai
"""
_GERMAN = """
der die und in den von zu das mit sich des auf fur ist im dem nicht ein eine als auch es an werden aus er hat dass
sie nach wird bei einer um am sind noch wie einem uber einen so zum war haben nur oder aber vor zur bis mehr durch
man ich du wir ja
"""

COMMON_WORDS = frozenset(
    word for text in (_SPANISH, _ENGLISH, _PORTUGUESE, _FRENCH, _ITALIAN, _GERMAN) for word in text.split()
)


def common_pairs(folded: list[str]) -> list[bool]:
    """For each two adjacent folded words, whether the index keeps the pair: when either word is common."""
    common = list(map(COMMON_WORDS.__contains__, folded))  # C loops: this runs for every segment indexed
    return list(map(operator.or_, common, common[1:]))
