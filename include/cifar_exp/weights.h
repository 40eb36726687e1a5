// Pretrained VGG16 backbone weights: the 13 convolutions of VGG16's feature extractor, read from
// the Keras ImageNet file or from a torchvision export, and written back (for tests and tools).
//
// In memory the weights are PyTorch-layout tensors keyed by Keras layer name:
//   "block1_conv1.weight"  float32 out x in x 3 x 3 (OIHW)
//   "block1_conv1.bias"    float32 out
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

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

// One 3x3 convolution of VGG16's feature extractor (all are stride 1, padding 1, then ReLU).
struct Vgg16Conv {
  std::string name;           // Keras layer name, e.g. "block3_conv2"
  int64_t in = 0, out = 0;    // channels
  int block = 0;              // 1..5; each block ends with a 2x2 max pool
  int torchvision_index = 0;  // index in torchvision's vgg16().features
};

// The 13 convolutions, in forward order: block1_conv1 (3->64) ... block5_conv3 (512->512).
const std::vector<Vgg16Conv>& vgg16_convs();

// Parameters of the 13 convolutions: 14,714,688.
int64_t vgg16_parameter_count();

// PyTorch-layout tensors keyed "<layer>.weight" (out x in x 3 x 3) and "<layer>.bias" (out).
using Vgg16Weights = std::map<std::string, torch::Tensor>;

// Reads `path` in `format` ("keras_h5" or "torchvision") and checks it with
// check_vgg16_weights. A missing file is an error naming scripts/download_vgg16_weights.sh.
Vgg16Weights load_vgg16_weights(const std::string& path, const std::string& format);
Vgg16Weights load_vgg16_keras_h5(const std::string& path);
Vgg16Weights load_vgg16_torchvision(const std::string& path);

// Throws WeightsError naming the tensor and `path` unless `weights` holds exactly the 26 expected
// tensors (no more), each float32 with the expected shape.
void check_vgg16_weights(const Vgg16Weights& weights, const std::string& path);

// How Keras laid out the .h5 file (write_vgg16_keras_h5 can write all three; the loader reads all).
enum class KerasH5Layout {
  // The 2016 keras-applications release (the _notop.h5 download): datasets named
  // "block1_conv1_W_1:0", "block1_conv1_b_1:0" directly in the layer group; fixed-length
  // string attributes.
  kLegacy2016,
  // Keras 2 / tf-keras model.save_weights: datasets "block1_conv1/kernel:0",
  // "block1_conv1/bias:0" one group deeper; variable-length string attributes.
  kKeras2Weights,
  // Keras 2 / tf-keras model.save: the kKeras2Weights layer groups under a "model_weights" group.
  kKeras2Model,
};

// Writes the tensors of `weights` (float32 or float64, kept as given) as Keras would: one layer
// group per "<layer>" prefix, kernels transposed to HWIO, plus the weightless input and pooling
// layers of VGG16. Writes whatever it is given (incomplete or extra layers too), for tests.
void write_vgg16_keras_h5(const std::string& path, const Vgg16Weights& weights,
                          KerasH5Layout layout);

// Writes `weights` in the torchvision format above (torch::pickle_save of a string -> tensor
// dict, which Python's torch.load reads as a dict). Known layer names become "features.<i>.*",
// other keys are written unchanged.
void write_vgg16_torchvision(const std::string& path, const Vgg16Weights& weights);

}  // namespace cifar_exp
