"""Text-queried source separation (AudioSep, SPEC stage 12): the network, its query, chunked inference.

``resunet`` (PyTorch) holds the ResUNet30 + FiLM network and its config;
``chunking`` (NumPy only) runs any window processor over streamed audio of
any length; ``inference`` joins the two for a loaded model and a query
embedding.
"""
