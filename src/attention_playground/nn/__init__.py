"""The model layer: the lesson's classes (attention.py, gpt.py, attention_lm.py, bigram.py), the
variants layered around them (variants.py), the encoder side (encoder.py), and sampling."""
