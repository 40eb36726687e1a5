// Keras' ImageDataGenerator transforms on whole batches (augmentation.h).
#include "cifar_exp/data/augmentation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "cifar_exp/data/device.h"

namespace cifar_exp {
namespace {

namespace F = torch::nn::functional;

constexpr double kPi = 3.14159265358979323846;

// Neighbour indices and weight along one axis of length n for sample coordinates x (float64),
// following scipy.ndimage's order-1 border rules as Keras uses them.
struct AxisSamples {
  torch::Tensor i0, i1;   // int64
  torch::Tensor weight;   // float64, weight of i1
  torch::Tensor outside;  // bool, only for "constant": the whole pixel becomes cval
};

AxisSamples sample_axis(torch::Tensor x, int64_t n, FillMode mode) {
  AxisSamples s;
  if (n == 1) {
    s.i0 = torch::zeros_like(x, torch::kInt64);
    s.i1 = s.i0;
    s.weight = torch::zeros_like(x);
    if (mode == FillMode::kConstant) s.outside = x.ne(0.0);
    return s;
  }
  const double last = double(n - 1);
  if (mode == FillMode::kConstant) {
    // No blending with cval: any coordinate outside [0, n-1] gives cval outright.
    s.outside = x.lt(0.0).logical_or(x.gt(last));
    x = x.clamp(0.0, last);
  } else if (mode == FillMode::kWrap) {
    // scipy's "wrap": the coordinate wraps with period n-1 (first and last samples overlap).
    x = torch::where(x.lt(0.0), x + last * (torch::trunc(-x / last) + 1.0), x);
    x = torch::where(x.gt(last), x - last * torch::trunc(x / last), x);
  }
  auto floor = x.floor();
  s.weight = x - floor;
  s.i0 = floor.to(torch::kInt64);
  s.i1 = s.i0 + 1;
  if (mode == FillMode::kReflect) {
    // Half-sample symmetric: d c b a | a b c d | d c b a.
    auto reflect = [n](const torch::Tensor& i) {
      auto m = torch::remainder(i, 2 * n);
      return torch::where(m.ge(n), 2 * n - 1 - m, m);
    };
    s.i0 = reflect(s.i0);
    s.i1 = reflect(s.i1);
  } else {
    // nearest clamps both neighbours; constant and wrap already put x inside [0, n-1].
    s.i0 = s.i0.clamp(0, n - 1);
    s.i1 = s.i1.clamp(0, n - 1);
  }
  return s;
}

torch::Tensor apply_flips(torch::Tensor images, const AffineParams& params) {
  const auto device = images.device();
  const int64_t n = images.size(0);
  // The masks live on the CPU (so .any() costs no device wait); both go up in one copy.
  const bool horizontal =
      params.flip_horizontal.defined() && params.flip_horizontal.any().item<bool>();
  const bool vertical = params.flip_vertical.defined() && params.flip_vertical.any().item<bool>();
  if (!horizontal && !vertical) return images;
  auto masks =
      upload(torch::stack({horizontal ? params.flip_horizontal : torch::zeros({n}, torch::kBool),
                           vertical ? params.flip_vertical : torch::zeros({n}, torch::kBool)}),
             device);
  if (horizontal) images = torch::where(masks[0].view({n, 1, 1, 1}), images.flip({3}), images);
  if (vertical) images = torch::where(masks[1].view({n, 1, 1, 1}), images.flip({2}), images);
  return images;
}

}  // namespace

AffineParams AffineParams::identity(int64_t n) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  AffineParams p;
  p.theta = torch::zeros({n}, f64);
  p.tx = torch::zeros({n}, f64);
  p.ty = torch::zeros({n}, f64);
  p.shear = torch::zeros({n}, f64);
  p.zx = torch::ones({n}, f64);
  p.zy = torch::ones({n}, f64);
  p.flip_horizontal = torch::zeros({n}, torch::kBool);
  p.flip_vertical = torch::zeros({n}, torch::kBool);
  return p;
}

namespace {

// Whether no image of the batch has a geometric transform (Keras then leaves them untouched).
bool is_neutral(const AffineParams& p) {
  return p.theta.eq(0)
      .logical_and(p.tx.eq(0))
      .logical_and(p.ty.eq(0))
      .logical_and(p.shear.eq(0))
      .logical_and(p.zx.eq(1))
      .logical_and(p.zy.eq(1))
      .all()
      .item<bool>();
}

// Where each output pixel samples its input: column and row coordinates (float64, n x H x W).
struct SourceCoordinates {
  torch::Tensor col, row;
};

SourceCoordinates source_coordinates(const AffineParams& p, int64_t n, int64_t height,
                                     int64_t width, const torch::Device& device) {
  // Coordinates in float64, as scipy computes them: float32 would move samples across the
  // seams of the constant and wrap modes.
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  // The six per-image parameters go to the device in one asynchronous copy.
  const auto packed =
      upload(torch::stack({p.theta, p.shear, p.zx, p.zy, p.tx, p.ty}).to(torch::kFloat64), device)
          .view({6, n, 1, 1});
  auto t = packed[0] * (kPi / 180.0);
  auto s = packed[1] * (kPi / 180.0);
  auto zx = packed[2], zy = packed[3];
  auto tx = packed[4], ty = packed[5];
  auto ct = t.cos(), st = t.sin();
  // Keras composes rotation . shift . shear . zoom as an output-to-input map, centred on the
  // image and with x/y swapped to column/row. Its centring uses H for the column centre and W
  // for the row centre (equal for square images; kept for bit-fidelity).
  const double column_centre = double(height) / 2.0 - 0.5;
  const double row_centre = double(width) / 2.0 - 0.5;
  auto u = torch::arange(width, f64).view({1, 1, width}) - column_centre;
  auto v = torch::arange(height, f64).view({1, height, 1}) - row_centre;
  return {column_centre + ct * zx * u - (t + s).sin() * zy * v + (ct * tx - st * ty),
          row_centre + st * zx * u + (t + s).cos() * zy * v + (st * tx + ct * ty)};
}

// nearest and reflect borders are what grid_sample's fused kernel does (border padding =
// clamping, reflection without corner alignment = half-sample symmetric), several times faster
// than gathering the neighbours by hand.
torch::Tensor sample_with_grid(const torch::Tensor& images, const SourceCoordinates& at,
                               bool nearest) {
  const int64_t height = images.size(2), width = images.size(3);
  auto normalise = [nearest](const torch::Tensor& x, int64_t size) {
    return nearest ? x * (2.0 / double(size - 1)) - 1.0 : (x * 2.0 + 1.0) / double(size) - 1.0;
  };
  auto grid = torch::stack({normalise(at.col, width), normalise(at.row, height)}, -1)
                  .to(images.scalar_type());
  auto options = F::GridSampleFuncOptions().mode(torch::kBilinear).align_corners(nearest);
  if (nearest) {
    options.padding_mode(torch::kBorder);
  } else {
    options.padding_mode(torch::kReflection);
  }
  return F::grid_sample(images, grid, options);
}

// constant and wrap (scipy's own rules, which grid_sample lacks): the four neighbours of every
// output pixel gathered for all channels at once and blended bilinearly.
torch::Tensor sample_by_hand(const torch::Tensor& images, const SourceCoordinates& at,
                             FillMode fill_mode, double cval) {
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3);
  const AxisSamples rows = sample_axis(at.row, height, fill_mode);
  const AxisSamples cols = sample_axis(at.col, width, fill_mode);
  auto flat = images.reshape({n, channels, height * width});
  auto gather = [&](const torch::Tensor& r, const torch::Tensor& c) {
    auto index = (r * width + c).view({n, 1, height * width}).expand({n, channels, height * width});
    return flat.gather(2, index);
  };
  auto wr = rows.weight.to(images.scalar_type()).view({n, 1, height * width});
  auto wc = cols.weight.to(images.scalar_type()).view({n, 1, height * width});
  auto top = gather(rows.i0, cols.i0) * (1 - wc) + gather(rows.i0, cols.i1) * wc;
  auto bottom = gather(rows.i1, cols.i0) * (1 - wc) + gather(rows.i1, cols.i1) * wc;
  auto out = top * (1 - wr) + bottom * wr;
  if (fill_mode == FillMode::kConstant) {
    auto outside = rows.outside.logical_or(cols.outside).view({n, 1, height * width});
    out = out.masked_fill(outside, cval);
  }
  return out.view({n, channels, height, width});
}

// nearest and reflect on float32 CPU images, the training path: grid_sample's sampling (the
// same border rules as sample_with_grid) done image by image from the map in float64, each
// image's flips folded into where its pixels are written. One pass, where the tensor path
// makes about 30 operator calls on n x H x W coordinate tensors (1.4 ms of a 64-image batch's
// step at AVX2). CUDA and other dtypes keep the tensor path.
bool own_sampling_applies(const torch::Tensor& images, FillMode fill_mode) {
  return images.device().is_cpu() && images.scalar_type() == torch::kFloat && images.dim() == 4 &&
         (fill_mode == FillMode::kNearest || fill_mode == FillMode::kReflect) &&
         images.size(2) > 1 && images.size(3) > 1;
}

// grid_sample's reflection without corner alignment: mirrored at -0.5 and size - 0.5
// (scipy's half-sample symmetric "reflect"), then clamped to [0, size - 1].
double reflect_coordinate(double x, int64_t size) {
  const double span = double(size), in = std::fabs(x + 0.5);
  const double extra = std::fmod(in, span);
  const bool mirrored = int64_t(std::floor(in / span)) % 2 == 1;
  return std::clamp((mirrored ? span - extra : extra) - 0.5, 0.0, span - 1.0);
}

torch::Tensor sample_on_cpu(const torch::Tensor& batch, const AffineParams& p, FillMode fill_mode) {
  const auto images = batch.contiguous();
  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3), plane = height * width;
  auto out = torch::empty_like(images);
  const auto params = torch::stack({p.theta, p.shear, p.zx, p.zy, p.tx, p.ty})
                          .to(torch::kFloat64)
                          .contiguous();  // 6 x n
  auto flag = [n](const torch::Tensor& f) {
    return f.defined() ? f.to(torch::kBool).contiguous() : torch::zeros({n}, torch::kBool);
  };
  const auto flip_h = flag(p.flip_horizontal), flip_v = flag(p.flip_vertical);
  const double* q = params.data_ptr<double>();
  const bool *mirror_columns = flip_h.data_ptr<bool>(), *mirror_rows = flip_v.data_ptr<bool>();
  const float* in = images.data_ptr<float>();
  float* result = out.data_ptr<float>();
  const bool nearest = fill_mode == FillMode::kNearest;
  // Keras' centring, as source_coordinates.
  const double column_centre = double(height) / 2.0 - 0.5, row_centre = double(width) / 2.0 - 0.5;
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    // Per output row: each column's four neighbours (flat indices in a channel plane) and
    // weights, computed once for all channels.
    std::vector<int64_t> top_left(width), top_right(width), bottom_left(width), bottom_right(width);
    std::vector<float> across(width), down(width);
    const double last_column = double(width - 1), last_row = double(height - 1);
    for (int64_t i = begin; i < end; ++i) {
      const double t = q[i] * (kPi / 180.0), s = q[n + i] * (kPi / 180.0);
      const double zx = q[2 * n + i], zy = q[3 * n + i], tx = q[4 * n + i], ty = q[5 * n + i];
      const double ct = std::cos(t), st = std::sin(t);
      const double a = ct * zx, b = std::sin(t + s) * zy, c = st * zx, d = std::cos(t + s) * zy;
      const double column_shift = ct * tx - st * ty, row_shift = st * tx + ct * ty;
      const float* image = in + i * channels * plane;
      float* target = result + i * channels * plane;
      for (int64_t row = 0; row < height; ++row) {
        const double v = double(row) - row_centre;
        for (int64_t col = 0; col < width; ++col) {
          const double u = double(col) - column_centre;
          double x = column_centre + a * u - b * v + column_shift;
          double y = row_centre + c * u + d * v + row_shift;
          if (nearest) {  // border padding: clamped into the image
            x = std::clamp(x, 0.0, last_column);
            y = std::clamp(y, 0.0, last_row);
          } else {
            x = reflect_coordinate(x, width);
            y = reflect_coordinate(y, height);
          }
          const int64_t x0 = int64_t(x), y0 = int64_t(y);  // x, y >= 0: truncation is floor
          const int64_t x1 = std::min(x0 + 1, width - 1), y1 = std::min(y0 + 1, height - 1);
          across[col] = float(x - double(x0));
          down[col] = float(y - double(y0));
          top_left[col] = y0 * width + x0;
          top_right[col] = y0 * width + x1;
          bottom_left[col] = y1 * width + x0;
          bottom_right[col] = y1 * width + x1;
        }
        const int64_t out_row = mirror_rows[i] ? height - 1 - row : row;
        const bool mirrored = mirror_columns[i];
        for (int64_t ch = 0; ch < channels; ++ch) {
          const float* src = image + ch * plane;
          float* dst = target + ch * plane + out_row * width;
          for (int64_t col = 0; col < width; ++col) {
            const float top =
                src[top_left[col]] + across[col] * (src[top_right[col]] - src[top_left[col]]);
            const float bottom = src[bottom_left[col]] +
                                 across[col] * (src[bottom_right[col]] - src[bottom_left[col]]);
            dst[mirrored ? width - 1 - col : col] = top + down[col] * (bottom - top);
          }
        }
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor apply_affine(const torch::Tensor& images, const AffineParams& p, FillMode fill_mode,
                           double cval) {
  if (is_neutral(p)) return apply_flips(images, p);
  if (own_sampling_applies(images, fill_mode)) return sample_on_cpu(images, p, fill_mode);
  const int64_t height = images.size(2), width = images.size(3);
  const SourceCoordinates at =
      source_coordinates(p, images.size(0), height, width, images.device());
  if ((fill_mode == FillMode::kNearest || fill_mode == FillMode::kReflect) && height > 1 &&
      width > 1) {
    return apply_flips(sample_with_grid(images, at, fill_mode == FillMode::kNearest), p);
  }
  return apply_flips(sample_by_hand(images, at, fill_mode, cval), p);
}

Augmenter::Augmenter(const AugmentationConfig& config, uint64_t seed)
    : config_(config),
      // A stream of its own, so augmentation does not shift initialisation or shuffling.
      generator_(at::detail::createCPUGenerator(seed ^ 0x9E3779B97F4A7C15ULL)) {}

torch::Tensor Augmenter::uniform(int64_t n, double low, double high) {
  auto t = torch::empty({n}, torch::kFloat64);
  if (low == high) return t.fill_(low);
  return t.uniform_(low, high, generator_);
}

AffineParams Augmenter::draw(int64_t n, int64_t height, int64_t width) {
  // Every parameter is drawn whether or not it is enabled, so that changing one range does not
  // change the others' random streams.
  const auto& c = config_;
  AffineParams p;
  p.theta = uniform(n, -c.rotation_range, c.rotation_range);
  // Fractions of the size when < 1, pixels otherwise. width_shift_range moves content along
  // columns as Keras documents (Keras itself feeds it to rows, which only matters for
  // non-square images or unequal ranges).
  const double cols =
      c.width_shift_range < 1 ? c.width_shift_range * double(width) : c.width_shift_range;
  const double rows =
      c.height_shift_range < 1 ? c.height_shift_range * double(height) : c.height_shift_range;
  p.tx = uniform(n, -cols, cols);
  p.ty = uniform(n, -rows, rows);
  p.shear = uniform(n, -c.shear_range, c.shear_range);
  p.zx = uniform(n, c.zoom_lower, c.zoom_upper);
  p.zy = uniform(n, c.zoom_lower, c.zoom_upper);
  p.flip_horizontal = uniform(n, 0, 1).lt(0.5).logical_and(torch::tensor(c.horizontal_flip));
  p.flip_vertical = uniform(n, 0, 1).lt(0.5).logical_and(torch::tensor(c.vertical_flip));
  return p;
}

torch::Tensor Augmenter::operator()(const torch::Tensor& batch) {
  const int64_t n = batch.size(0);
  const auto params = draw(n, batch.size(2), batch.size(3));
  torch::Tensor x;
  if (config_.any_geometric()) {
    // cval is given in pixel units (0-255) like the data; batches are scaled to [0, 1].
    x = apply_affine(batch, params, config_.fill_mode, config_.cval / 255.0);
  } else {
    x = apply_flips(batch, params);
  }
  if (config_.random_crop) x = random_crop(x);
  if (config_.cutout > 0) x = cutout(x);
  return x;
}

torch::Tensor Augmenter::random_crop(const torch::Tensor& batch) {
  const int64_t n = batch.size(0), channels = batch.size(1);
  const int64_t height = batch.size(2), width = batch.size(3);
  const int64_t pad = config_.random_crop->padding, size = config_.random_crop->size;
  auto padded = F::pad(batch, F::PadFuncOptions({pad, pad, pad, pad}));
  const int64_t hp = height + 2 * pad, wp = width + 2 * pad;
  const auto device = batch.device();
  // Drawn on the CPU (the same offsets on every device), uploaded together without waiting.
  auto top_cpu = torch::randint(0, hp - size + 1, {n}, generator_, torch::kInt64);
  auto left_cpu = torch::randint(0, wp - size + 1, {n}, generator_, torch::kInt64);
  const auto offsets = upload(torch::stack({top_cpu, left_cpu}), device);
  auto top = offsets[0], left = offsets[1];
  auto range = torch::arange(size, torch::TensorOptions().dtype(torch::kInt64).device(device));
  auto index = ((top.view({n, 1, 1}) + range.view({1, size, 1})) * wp +
                (left.view({n, 1, 1}) + range.view({1, 1, size})))
                   .view({n, 1, size * size})
                   .expand({n, channels, size * size});
  auto crop =
      padded.reshape({n, channels, hp * wp}).gather(2, index).view({n, channels, size, size});
  if (size != height || size != width) {
    crop = F::interpolate(crop, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{height, width})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
  }
  return crop;
}

torch::Tensor Augmenter::cutout(const torch::Tensor& batch) {
  // DeVries & Taylor: a k x k square centred anywhere in the image (clipped at the borders).
  const int64_t n = batch.size(0), height = batch.size(2), width = batch.size(3);
  const int64_t k = config_.cutout;
  const auto device = batch.device();
  auto cy_cpu = torch::randint(0, height, {n}, generator_, torch::kInt64);
  auto cx_cpu = torch::randint(0, width, {n}, generator_, torch::kInt64);
  const auto centres = upload(torch::stack({cy_cpu, cx_cpu}), device);
  auto cy = centres[0].view({n, 1, 1, 1}), cx = centres[1].view({n, 1, 1, 1});
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  auto r = torch::arange(height, i64).view({1, 1, height, 1});
  auto c = torch::arange(width, i64).view({1, 1, 1, width});
  auto top = cy - k / 2, left = cx - k / 2;
  auto mask =
      r.ge(top).logical_and(r.lt(top + k)).logical_and(c.ge(left)).logical_and(c.lt(left + k));
  return batch.masked_fill(mask, 0.0);
}

}  // namespace cifar_exp
