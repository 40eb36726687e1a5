// Console and train.log logging, times and percentages (logging.h).
#include "cifar_exp/io/logging.h"

#include <chrono>
#include <ctime>
#include <iomanip>
#include <sstream>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "cifar_exp/io/errors.h"

namespace cifar_exp {

std::string utc_now(const char* format) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, format, &tm);
  return buffer;
}

std::string iso_utc_now() { return utc_now("%Y-%m-%dT%H:%M:%SZ"); }

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

std::string percent(double fraction) { return fixed(100.0 * fraction, 2) + "%"; }

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

}  // namespace cifar_exp
