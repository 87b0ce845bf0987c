"""ShopALook ML core: image decoding, hash-checked weights, backbones and embeddings.

A plain library: no Django, Celery or environment reads; callers pass explicit arguments.
"""
