#include "cifar_exp/reporting.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <png.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "cifar_exp/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

}  // namespace

std::string utc_now(const char* format) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, format, &tm);
  return buffer;
}

std::string percent(double fraction) { return fixed(100.0 * fraction, 2) + "%"; }

void check_output_dir(const std::string& output_dir) {
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec || !fs::is_directory(output_dir)) {
    throw OutputError(output_dir + ": cannot create output folder" +
                      (ec ? ": " + ec.message() : std::string(": not a folder")));
  }
  if (::access(output_dir.c_str(), W_OK | X_OK) != 0) {
    throw OutputError(output_dir + ": output folder is not writable");
  }
}

std::string create_run_directory(const std::string& output_dir, const std::string& name) {
  check_output_dir(output_dir);
  const std::string base =
      (fs::path(output_dir) / (name + "-" + utc_now("%Y%m%dT%H%M%SZ"))).string();
  for (int suffix = 1; suffix < 10000; ++suffix) {
    const std::string candidate = suffix == 1 ? base : base + "-" + std::to_string(suffix);
    std::error_code ec;
    // create_directory is false when the folder exists: never reuse one.
    if (fs::create_directory(candidate, ec)) return candidate;
    if (ec) throw OutputError(candidate + ": cannot create run folder: " + ec.message());
  }
  throw OutputError(base + ": too many run folders with this name and time");
}

std::shared_ptr<spdlog::logger> console_logger() {
  auto sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  sink->set_pattern("%H:%M:%S %^%l%$ %v");
  auto logger = std::make_shared<spdlog::logger>("cifar-exp", sink);
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  return logger;
}

void add_log_file(const std::shared_ptr<spdlog::logger>& logger, const std::string& path) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    logger->sinks().push_back(sink);
    // train.log is a copy of the console: when its disk fills, the console still tells the
    // story, and the failing write that matters (a checkpoint, the metrics) is reported once
    // with exit 5 instead of a "LOG ERROR" line per message.
    logger->set_error_handler([](const std::string&) {});
  } catch (const spdlog::spdlog_ex& e) {
    throw OutputError(path + ": cannot open log file: " + first_line(e.what()));
  }
}

void EpochLogger::on_train_begin(int64_t epochs, int64_t batches_per_epoch) {
  epochs_ = epochs;
  logger_->info("Training {} epochs of {} batches", epochs, batches_per_epoch);
}

void EpochLogger::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  logger_->info(
      "Epoch {}/{}: loss {:.4f}, accuracy {}, error {}, val_loss {:.4f}, val_accuracy {}, "
      "val_error {} ({:.1f} s, {:.0f} images/s)",
      m.epoch, epochs_, m.train_loss, percent(m.train_accuracy), percent(m.train_error()),
      m.val_loss, percent(m.val_accuracy), percent(m.val_error()), m.seconds, m.images_per_second);
}

ProgressBar::ProgressBar() : enabled_(::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::on_batch_end(const BatchProgress& p) {
  if (!enabled_) return;
  const int64_t width = 30;
  const int64_t filled = p.batch * width / p.num_batches;
  // Redraw at most ~100 times an epoch: reading the running loss synchronises the device.
  const int64_t step = p.batch * 100 / p.num_batches;
  if (step == last_drawn_ && p.batch != p.num_batches) return;
  last_drawn_ = step;
  const double loss = p.loss_sum.item<double>() / double(p.seen);
  const double accuracy = double(p.correct.item<int64_t>()) / double(p.seen);
  std::fprintf(stderr, "\r  epoch %lld [%s%s] %lld/%lld loss %.4f accuracy %s ",
               static_cast<long long>(p.epoch), std::string(size_t(filled), '=').c_str(),
               std::string(size_t(width - filled), ' ').c_str(), static_cast<long long>(p.batch),
               static_cast<long long>(p.num_batches), loss, percent(accuracy).c_str());
  std::fflush(stderr);
}

void ProgressBar::on_epoch_end(const EpochMetrics&, const EvaluationResult&) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r%80s\r", "");
  std::fflush(stderr);
  last_drawn_ = -1;
}

const char* MetricsWriter::csv_header() {
  return "epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,val_error,seconds,"
         "images_per_second";
}

std::string MetricsWriter::csv_row(const EpochMetrics& m) {
  std::ostringstream out;
  out << m.epoch << ',' << fixed(m.train_loss, 6) << ',' << fixed(m.train_accuracy, 6) << ','
      << fixed(m.train_error(), 6) << ',' << fixed(m.val_loss, 6) << ',' << fixed(m.val_accuracy, 6)
      << ',' << fixed(m.val_error(), 6) << ',' << fixed(m.seconds, 3) << ','
      << fixed(m.images_per_second, 1);
  return out.str();
}

nlohmann::json MetricsWriter::to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"train_loss", m.train_loss},
          {"train_accuracy", m.train_accuracy},
          {"train_error", m.train_error()},
          {"val_loss", m.val_loss},
          {"val_accuracy", m.val_accuracy},
          {"val_error", m.val_error()},
          {"seconds", m.seconds},
          {"images_per_second", m.images_per_second}};
}

void MetricsWriter::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  rows_.push_back(m);
  std::string csv = std::string(csv_header()) + "\n";
  std::string jsonl;
  for (const auto& row : rows_) {
    csv += csv_row(row) + "\n";
    jsonl += to_json(row).dump() + "\n";
  }
  write_file_atomic((fs::path(run_dir_) / "metrics.csv").string(), csv);
  write_file_atomic((fs::path(run_dir_) / "metrics.jsonl").string(), jsonl);
}

namespace {

// libpng's output callback: append to the std::string behind the write pointer.
void append_png_bytes(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), length);
}

}  // namespace

void write_png(const std::string& path, const torch::Tensor& rgb) {
  auto pixels = rgb.to(torch::kCPU).to(torch::kUInt8).contiguous();
  if (pixels.dim() != 3 || pixels.size(2) != 3) {
    throw OutputError(path + ": internal error: PNG needs an H x W x 3 image");
  }
  const auto height = png_uint_32(pixels.size(0)), width = png_uint_32(pixels.size(1));
  // Encoded in memory, then written like every other file (so disk errors are reported alike).
  std::string encoded;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  volatile bool ok = png && info;
  // libpng reports errors by longjmp; nothing with a destructor is created in this frame after
  // setjmp (`encoded` grows through the callback only).
  if (ok && setjmp(png_jmpbuf(png)) == 0) {
    png_set_write_fn(png, &encoded, append_png_bytes, nullptr);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    auto* data = pixels.data_ptr<uint8_t>();
    for (png_uint_32 row = 0; row < height; ++row)
      png_write_row(png, data + size_t(row) * width * 3);
    png_write_end(png, nullptr);
  } else {
    ok = false;
  }
  png_destroy_write_struct(png ? &png : nullptr, info ? &info : nullptr);
  if (!ok) throw OutputError(path + ": cannot encode PNG");
  write_file_atomic(path, encoded);
}

}  // namespace cifar_exp
