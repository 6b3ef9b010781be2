"""The HTTP service (``python -m pipeline serve``): the retired Emotion API's contract served
offline by this product's detector and model, snapshot push for store cameras, video
operations over the product's own series, and the subscription keys that guard them."""
