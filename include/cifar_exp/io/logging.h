// The console story of a run (spdlog: stdout, and the run's train.log) and the small text
// formats it uses: UTC times and percentages.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace cifar_exp {

// Console logger (stdout); add_log_file() makes it also write the run's train.log.
std::shared_ptr<spdlog::logger> console_logger();
// OutputError naming `path` when it cannot be opened.
void add_log_file(const std::shared_ptr<spdlog::logger>& logger, const std::string& path);

// The current UTC time formatted by strftime, e.g. utc_now("%Y-%m-%dT%H:%M:%SZ").
std::string utc_now(const char* format);
// The current UTC time as summary.json records it: "2026-11-29T11:55:20Z".
std::string iso_utc_now();

// `value` with `digits` decimals: fixed(2.5, 3) -> "2.500".
std::string fixed(double value, int digits);

// Formats a fraction as a percentage with two decimals: 0.62184 -> "62.18%".
std::string percent(double fraction);

}  // namespace cifar_exp
