// Which convolutions a frozen VGG16 backbone runs (model.convolution resolved for this build and
// CPU), when they apply, and the one description of them that the run log, provenance, bench and
// the feature cache key print.
//
// model.convolution (Convolution in choices.h): how a frozen VGG16 backbone convolves on the CPU
// in fp32:
//   auto:     the fastest this build and CPU have, measured layer by layer (bench --layers,
//             BENCHMARKS.md): our AVX-512 Winograd (winograd.h) where the CPU has AVX-512 (faster
//             than oneDNN's on every VGG16 layer it runs), else Winograd through oneDNN where
//             this build has it (with our AVX2 matrix product for maps of 2 x 2 and less, which
//             oneDNN convolves directly), else our AVX2 Winograd, else libtorch's;
//   direct:   libtorch's convolutions (the same results as before this option existed);
//   winograd: Winograd through oneDNN, an error where it is not available;
//   winograd_avx2, winograd_avx512: ours, an error where not available.
// Winograd sums in another order: features differ from direct ones by ~1e-5 relative, so
// cached features record which ran (DescriptionFor::kCacheKey).
#pragma once

#include <memory>
#include <string>

#include "cifar_exp/config/choices.h"
#include "cifar_exp/models/kernels/backbone_path.h"

namespace cifar_exp {

enum class ConvolutionPath { kDirect, kOnednnWinograd, kWinogradAvx2, kWinogradAvx512 };
// "direct", "onednn_winograd", "winograd_avx2", "winograd_avx512": bench's JSON.
std::string to_string(ConvolutionPath path);
// auto: ours at AVX-512 where available, else oneDNN's Winograd where available (a build with
// oneDNN, a CPU with AVX-512), else ours at AVX2, else direct. winograd / winograd_avx2 /
// winograd_avx512: that one, or a ConfigError saying why not.
ConvolutionPath resolve_convolution(Convolution convolution);

// model.convolution as configured and as resolved.
struct BackboneConvolution {
  // Implicit: a path alone (configured "auto", no small maps beside it) is described as such.
  BackboneConvolution(ConvolutionPath path = ConvolutionPath::kDirect,
                      Convolution requested = Convolution::kAuto, bool small_maps_avx2 = false)
      : path(path), requested(requested), small_maps_avx2(small_maps_avx2) {}
  // Compares as its path.
  operator ConvolutionPath() const { return path; }

  ConvolutionPath path;
  Convolution requested;
  // Under kOnednnWinograd: maps of at most 2 x 2 take our AVX2 matrix product (where the CPU has
  // AVX2) instead of oneDNN's direct convolution.
  bool small_maps_avx2;
};
// resolve_convolution(requested), with our matrix product for oneDNN's small maps where the CPU
// has AVX2.
BackboneConvolution resolve_backbone_convolution(Convolution requested);

// Who reads the description, each in its own words (kept as earlier versions wrote them).
enum class DescriptionFor {
  // summary.json's provenance.convolution: "libtorch direct", "oneDNN Winograd" (+ " + AVX2
  // matrix product (ours) for maps of 2x2 and less"), "AVX2 Winograd (ours)", "AVX-512
  // Winograd (ours)".
  kProvenance,
  // The run log after "Backbone convolutions: ", with model.convolution and, under auto, why
  // not a faster path.
  kRunLog,
  // The feature cache key's part: "", ",conv=winograd" (+ ",small_maps=matrix_avx2"),
  // ",conv=winograd_avx2", ",conv=winograd_avx512" (the two sum in other orders over more than
  // 128 channels).
  kCacheKey,
  // bench --layers' auto_path: "direct", "onednn_winograd" (+ " + matrix_avx2 for maps <= 2x2"),
  // "winograd_avx2", "winograd_avx512".
  kBench,
};
std::string describe(const BackboneConvolution& convolution,
                     DescriptionFor reader = DescriptionFor::kProvenance);

// When a backbone's forward pass takes its path rather than libtorch's modules: on the CPU, in
// float32 outside autocast (training.precision fp32), with no gradient to compute (every
// convolution frozen, an input without grad). Any other pass convolves directly.
bool backbone_path_applies(bool on_cpu, bool fp32, bool needs_grad);

// The path that runs `convolution`: oneDNN's pipeline (with ours for small maps), ours, or
// libtorch's direct convolutions.
std::shared_ptr<BackbonePath> make_backbone_path(const BackboneConvolution& convolution);

}  // namespace cifar_exp
