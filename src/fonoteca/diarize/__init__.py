"""Speaker diarization: who speaks when in an episode, and voice prints to recognise a speaker in other episodes.

`Diarizer` (built once by the application object) runs the packaged ONNX models; see engine.py for how, weights.py
for the models and their checks, and bench/speakers.py for what it achieves.
"""

from fonoteca.diarize.engine import MATCH_THRESHOLD, Diarization, Diarizer, Turn, similarity

__all__ = ["MATCH_THRESHOLD", "Diarization", "Diarizer", "Turn", "similarity"]
