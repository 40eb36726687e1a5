// Small statistics for `compare`: mean and sample standard deviation over seeds, Student's t
// distribution, and Welch's two-sample t-test with its confidence interval. Self-contained (no
// Boost or GSL): the t distribution goes through the regularized incomplete beta function.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cifar_exp {

struct Stat {
  double mean = 0, std = 0;  // std: sample standard deviation (n - 1); 0 for one value
  int64_t n = 0;
};
Stat mean_std(const std::vector<double>& values);

// I_x(a, b) for a, b > 0 and 0 <= x <= 1. Throws std::invalid_argument outside that domain.
double regularized_incomplete_beta(double a, double b, double x);

// Student's t distribution with `df` > 0 degrees of freedom (need not be an integer).
double student_t_cdf(double t, double df);
// The t with student_t_cdf(t, df) == p, for 0 < p < 1 (to about 1e-12 relative).
double student_t_quantile(double p, double df);

struct WelchTest {
  double difference = 0;      // mean(a) - mean(b)
  double standard_error = 0;  // sqrt(s_a^2 / n_a + s_b^2 / n_b)
  double df = 0;              // Welch-Satterthwaite degrees of freedom
  double t = 0;
  double p_value = 1;              // two-sided
  double ci_low = 0, ci_high = 0;  // confidence interval of the difference
};

// Welch's unequal-variance t-test of mean(a) - mean(b), with a `confidence` (e.g. 0.95)
// interval. nullopt when either side has fewer than 2 values: no variance, so no interval.
// When both sides have zero variance the difference is exact: the interval is that one point
// and p is 1 for equal means, else 0.
std::optional<WelchTest> welch_test(const Stat& a, const Stat& b, double confidence = 0.95);

}  // namespace cifar_exp
