"""Lasagne's ``lasagne.theano_extensions``: 1-d convolutions (``conv``) and padding (``padding``)
built on symdl's ops."""
