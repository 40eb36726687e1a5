// model.convolution resolved, described and made into a BackbonePath (convolution_path.h).
#include "cifar_exp/models/kernels/convolution_path.h"

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/onednn_backbone.h"
#include "cifar_exp/models/kernels/winograd.h"

namespace cifar_exp {

namespace {

std::string describe_for_log(const BackboneConvolution& c) {
  const std::string requested = "model.convolution \"" + to_string(c.requested) + "\"";
  switch (c.path) {
    case ConvolutionPath::kOnednnWinograd:
      return std::string("oneDNN Winograd F(4x4, 3x3)") +
             (c.small_maps_avx2 ? ", maps of 2x2 and less as our AVX2 matrix product" : "") + " (" +
             requested + ")";
    case ConvolutionPath::kWinogradAvx2:
      return "our AVX2 Winograd F(4x4, 3x3) (" + requested +
             (c.requested == Convolution::kAuto
                  ? "; ours at AVX-512: " + our_winograd_unavailable_reason(CpuIsa::kAvx512) +
                        "; oneDNN's: " + onednn_winograd_unavailable_reason()
                  : std::string()) +
             ")";
    case ConvolutionPath::kWinogradAvx512:
      return "our AVX-512 Winograd F(4x4, 3x3) (" + requested + ")";
    case ConvolutionPath::kDirect:
      break;
  }
  return "libtorch's direct ones (oneDNN's Winograd: " + onednn_winograd_unavailable_reason() +
         "; ours: " + our_winograd_unavailable_reason(CpuIsa::kAvx2) + ")";
}

std::string describe_for_provenance(const BackboneConvolution& c) {
  switch (c.path) {
    case ConvolutionPath::kOnednnWinograd:
      return std::string("oneDNN Winograd") +
             (c.small_maps_avx2 ? " + AVX2 matrix product (ours) for maps of 2x2 and less" : "");
    case ConvolutionPath::kWinogradAvx2:
      return "AVX2 Winograd (ours)";
    case ConvolutionPath::kWinogradAvx512:
      return "AVX-512 Winograd (ours)";
    case ConvolutionPath::kDirect:
      break;
  }
  return "libtorch direct";
}

std::string describe_for_cache_key(const BackboneConvolution& c) {
  switch (c.path) {
    case ConvolutionPath::kOnednnWinograd:
      // ",conv=winograd": oneDNN's, the key it always had.
      return std::string(",conv=winograd") + (c.small_maps_avx2 ? ",small_maps=matrix_avx2" : "");
    case ConvolutionPath::kWinogradAvx2:
    case ConvolutionPath::kWinogradAvx512:
      return ",conv=" + to_string(c.path);
    case ConvolutionPath::kDirect:
      break;
  }
  return "";
}

}  // namespace

std::string to_string(ConvolutionPath path) {
  switch (path) {
    case ConvolutionPath::kOnednnWinograd:
      return "onednn_winograd";
    case ConvolutionPath::kWinogradAvx2:
      return our_winograd_name(CpuIsa::kAvx2);
    case ConvolutionPath::kWinogradAvx512:
      return our_winograd_name(CpuIsa::kAvx512);
    case ConvolutionPath::kDirect:
      break;
  }
  return "direct";
}

ConvolutionPath resolve_convolution(Convolution convolution) {
  auto unavailable = [&](const std::string& reason) {
    return ConfigError("model.convolution: \"" + to_string(convolution) +
                       "\" is not available: " + reason + "; use \"auto\" or \"direct\"");
  };
  switch (convolution) {
    case Convolution::kDirect:
      return ConvolutionPath::kDirect;
    case Convolution::kWinograd:
      if (!onednn_winograd_available()) throw unavailable(onednn_winograd_unavailable_reason());
      return ConvolutionPath::kOnednnWinograd;
    case Convolution::kWinogradAvx2:
      if (!our_winograd_available(CpuIsa::kAvx2)) {
        throw unavailable(our_winograd_unavailable_reason(CpuIsa::kAvx2));
      }
      return ConvolutionPath::kWinogradAvx2;
    case Convolution::kWinogradAvx512:
      if (!our_winograd_available(CpuIsa::kAvx512)) {
        throw unavailable(our_winograd_unavailable_reason(CpuIsa::kAvx512));
      }
      return ConvolutionPath::kWinogradAvx512;
    case Convolution::kAuto:
      break;
  }
  // The order of bench --layers' measurements (BENCHMARKS.md): ours at AVX-512 beat oneDNN's on
  // every layer it runs, oneDNN's beat ours at AVX2 on blocks 2 to 4.
  if (our_winograd_available(CpuIsa::kAvx512)) return ConvolutionPath::kWinogradAvx512;
  if (onednn_winograd_available()) return ConvolutionPath::kOnednnWinograd;
  if (our_winograd_available(CpuIsa::kAvx2)) return ConvolutionPath::kWinogradAvx2;
  return ConvolutionPath::kDirect;
}

BackboneConvolution resolve_backbone_convolution(Convolution requested) {
  const ConvolutionPath path = resolve_convolution(requested);
  return {path, requested,
          path == ConvolutionPath::kOnednnWinograd && our_winograd_available(CpuIsa::kAvx2)};
}

std::string describe(const BackboneConvolution& convolution, DescriptionFor reader) {
  switch (reader) {
    case DescriptionFor::kRunLog:
      return describe_for_log(convolution);
    case DescriptionFor::kCacheKey:
      return describe_for_cache_key(convolution);
    case DescriptionFor::kBench:
      return to_string(convolution.path) +
             (convolution.small_maps_avx2 ? " + matrix_avx2 for maps <= 2x2" : "");
    case DescriptionFor::kProvenance:
      break;
  }
  return describe_for_provenance(convolution);
}

bool backbone_path_applies(bool on_cpu, bool fp32, bool needs_grad) {
  return on_cpu && fp32 && !needs_grad;
}

std::shared_ptr<BackbonePath> make_backbone_path(const BackboneConvolution& convolution) {
  switch (convolution.path) {
    case ConvolutionPath::kOnednnWinograd: {
      auto onednn = std::make_shared<OnednnBackbone>(/*winograd=*/true);
      if (!convolution.small_maps_avx2) return onednn;
      return std::make_shared<SmallMapsBeside>(onednn,
                                               std::make_shared<WinogradBackbone>(CpuIsa::kAvx2));
    }
    case ConvolutionPath::kWinogradAvx2:
      return std::make_shared<WinogradBackbone>(CpuIsa::kAvx2);
    case ConvolutionPath::kWinogradAvx512:
      return std::make_shared<WinogradBackbone>(CpuIsa::kAvx512);
    case ConvolutionPath::kDirect:
      break;
  }
  return std::make_shared<DirectBackbone>();
}

}  // namespace cifar_exp
