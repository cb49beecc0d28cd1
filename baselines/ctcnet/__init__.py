"""CTCNet (cortico-thalamo-cortical network): the audio-visual separation baseline."""
