#!/usr/bin/env python3
"""Makes Keras-written VGG16 weight files and reference values, to check cifar-exp's Keras .h5
loader (src/models/keras_weights.cpp) and VGG16 backbone against Keras itself.

Needs Python 3 with tf-keras (Keras 2 on TensorFlow: `pip install tf-keras h5py`); Keras 3 is not
used because the files the notebook (and keras.applications) reads are Keras 2 .h5 files. Works
offline: the weights are Keras' random initialisation (weights=None), with biases set to random
non-zero values so that bias placement is checked too.

Usage:
  check_keras_h5.py [--out-dir DIR] [--weights-h5 FILE] [--full-h5 FILE] [--seed N]

Writes (defaults in brackets):
  FILE [/tmp/keras_vgg16.h5]            model.save_weights(FILE): Keras 2 save_weights layout
  FILE [/tmp/keras_vgg16_full.h5]       model.save(FILE): full-model layout (model_weights group)
  DIR [/tmp/keras_vgg16_check]/
    inputs.npy    float32 N x 32 x 32 x 3 (NHWC), CIFAR-like images: whole numbers in [0, 255]
    outputs.npy   float32 N x 1 x 1 x 512, Keras' backbone output for inputs.npy fed as-is
                  (no caffe/imagenet preprocessing, no scaling)
    kernels/<layer>_kernel.npy  float32 3 x 3 x in x out (HWIO), as Keras reports it
    kernels/<layer>_bias.npy    float32 out

Then check the C++ loader against them (the test is skipped unless KERAS_VGG16_H5 is set):
  KERAS_VGG16_H5=/tmp/keras_vgg16.h5 KERAS_VGG16_CHECK_DIR=/tmp/keras_vgg16_check \
      build/tests/cifar_exp_tests --gtest_filter='WeightsKerasFile*'
"""
import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tf_keras  # noqa: E402  (after the log-level setting)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="/tmp/keras_vgg16_check")
    parser.add_argument("--weights-h5", default="/tmp/keras_vgg16.h5")
    parser.add_argument("--full-h5", default="/tmp/keras_vgg16_full.h5")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tf_keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = tf_keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(32, 32, 3))
    os.makedirs(os.path.join(args.out_dir, "kernels"), exist_ok=True)
    convs = [layer for layer in model.layers if layer.get_weights()]
    for layer in convs:
        kernel, bias = layer.get_weights()
        bias = rng.normal(0.0, 0.1, size=bias.shape).astype(np.float32)
        layer.set_weights([kernel, bias])
        np.save(os.path.join(args.out_dir, "kernels", layer.name + "_kernel.npy"),
                kernel.astype(np.float32))
        np.save(os.path.join(args.out_dir, "kernels", layer.name + "_bias.npy"), bias)
    print("check_keras_h5: %d conv layers: %s" % (len(convs), " ".join(l.name for l in convs)))
    print("check_keras_h5: %d parameters" % model.count_params())

    model.save_weights(args.weights_h5)
    model.save(args.full_h5)
    print("check_keras_h5: wrote %s (save_weights) and %s (model.save)"
          % (args.weights_h5, args.full_h5))

    images = rng.integers(0, 256, size=(args.images, 32, 32, 3)).astype(np.float32)
    outputs = model.predict(images, verbose=0).astype(np.float32)
    np.save(os.path.join(args.out_dir, "inputs.npy"), images)
    np.save(os.path.join(args.out_dir, "outputs.npy"), outputs)
    print("check_keras_h5: wrote %s/inputs.npy %s and outputs.npy %s"
          % (args.out_dir, images.shape, outputs.shape))


if __name__ == "__main__":
    main()
