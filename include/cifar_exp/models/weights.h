// Reading pretrained VGG16 backbone weights: the 13 convolutions of VGG16's feature extractor,
// from the Keras ImageNet file or from a torchvision export, into a Vgg16Weights (the layer table
// and the in-memory layout are vgg16_layers.h). src/models/keras_weights.cpp and
// src/models/torchvision_weights.cpp read the two formats; tests/weight_files.h writes them, for
// tests.
//
// File formats:
//  keras_h5     The file Keras downloads for VGG16(weights='imagenet', include_top=False),
//               vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
//               (scripts/download_vgg16_weights.sh), or any Keras 2 file of that model:
//               model.save_weights('x.h5') or model.save('x.h5'). Read like Keras'
//               load_weights_from_hdf5_group: the attribute `layer_names` of the root (or of the
//               `model_weights` group) lists the layers; each layer group's attribute
//               `weight_names` lists its datasets (kernel, then bias) relative to the group.
//               Kernels are stored height x width x in x out (HWIO) and converted to OIHW.
//               Pooling/input layers (no weights) are skipped; any other layer with weights (e.g.
//               the fc layers of the include_top file) is an error. Float64 data is converted.
//               Keras 3 `.weights.h5` files (a different layout) are not read.
//  torchvision  The `features.*` tensors of torchvision.models.vgg16 (conv indices 0, 2, 5, 7, 10,
//               12, 14, 17, 19, 21, 24, 26, 28 -> block1_conv1 ... block5_conv3) as a plain Python
//               dict {"features.0.weight": tensor, ...} saved by torch.save in its default zip
//               format (PyTorch >= 1.6), which is what torch::pickle_load reads, in libtorch 1.13
//               and 2.x alike. Not readable: the legacy format (_use_new_zipfile_serialization=
//               False: torch::pickle_load only reads the zip container), an OrderedDict such as
//               model.state_dict() itself (save dict(...) of it), nn.Parameter values (save
//               .detach()ed tensors), a one-entry dict (pickled with SETITEM, which libtorch's
//               unpickler lacks). scripts/export_torchvision_vgg16.py writes such a file.
//
// Every failure is a WeightsError (exit code 4) with a one-line message naming the file and the
// layer, tensor or HDF5 object concerned.
#pragma once

#include <string>

#include "cifar_exp/config/choices.h"
#include "cifar_exp/models/vgg16_layers.h"

namespace cifar_exp {

// Reads `path` in `format` ("keras_h5" or "torchvision") and checks it with
// check_vgg16_weights. A missing file is an error naming scripts/download_vgg16_weights.sh.
Vgg16Weights load_vgg16_weights(const std::string& path, WeightsFormat format);
Vgg16Weights load_vgg16_keras_h5(const std::string& path);
Vgg16Weights load_vgg16_torchvision(const std::string& path);

// Throws WeightsError naming the tensor and `path` unless `weights` holds exactly the 26 expected
// tensors (no more), each float32 with the expected shape.
void check_vgg16_weights(const Vgg16Weights& weights, const std::string& path);

}  // namespace cifar_exp
