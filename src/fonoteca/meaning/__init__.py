"""Search by meaning: transcripts cut into passages of about half a minute (passages.py), each turned into a vector
by an embeddings model (embedders.py), stored with the archive (fonoteca.archive.vectors) and compared with a
question's vector by fonoteca.search.hybrid."""
