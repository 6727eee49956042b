"""Keras 3 models: the CAAE of paper 000, the conditional DCGAN of paper 001, VGG-Face and the regressors."""
