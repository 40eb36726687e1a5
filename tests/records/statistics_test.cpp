// Tests for statistics.h: means, spreads and Welch's t-test against reference values.
#include "cifar_exp/records/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace cifar_exp {
namespace {

// Reference values below are from mpmath 1.3 at 40 digits (betainc(a, b, 0, x,
// regularized=True); the t cdf as 1 - betainc(df/2, 1/2, 0, df/(df+t^2))/2 for t > 0; quantiles
// by findroot on that cdf), cross-checked against printed t tables where those have them.

TEST(Statistics, RegularizedIncompleteBeta) {
  // I_0.4(2, 3) = sum_{j=2..4} C(4, j) 0.4^j 0.6^(4-j) = 0.3456 + 0.1536 + 0.0256 = 0.5248.
  EXPECT_NEAR(regularized_incomplete_beta(2, 3, 0.4), 0.5248, 1e-12);
  EXPECT_NEAR(regularized_incomplete_beta(0.5, 5, 0.9), 0.99999742941030077, 1e-12);
  EXPECT_NEAR(regularized_incomplete_beta(30, 40, 0.45), 0.64474800855856804, 1e-12);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 0), 0.0);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 1), 1.0);
  // The symmetry I_x(a, b) = 1 - I_{1-x}(b, a), across the continued fraction's switch point.
  for (double x : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    EXPECT_NEAR(regularized_incomplete_beta(2.5, 7, x),
                1 - regularized_incomplete_beta(7, 2.5, 1 - x), 1e-13)
        << x;
  }
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), std::invalid_argument);
  EXPECT_THROW(regularized_incomplete_beta(1, 1, 1.5), std::invalid_argument);
}

TEST(Statistics, StudentTCdf) {
  EXPECT_EQ(student_t_cdf(0, 3), 0.5);
  EXPECT_NEAR(student_t_cdf(2, 5), 0.94903026058507082, 1e-12);
  EXPECT_NEAR(student_t_cdf(-1.5, 2.5), 0.12391822654314813, 1e-12);  // df need not be whole
  EXPECT_NEAR(student_t_cdf(0.3, 200), 0.61775563490533601, 1e-12);
  // df = 1 is the Cauchy distribution: 1/2 + atan(t)/pi.
  EXPECT_NEAR(student_t_cdf(3, 1), 0.5 + std::atan(3.0) / M_PI, 1e-13);
  EXPECT_NEAR(student_t_cdf(2.2, 7) + student_t_cdf(-2.2, 7), 1.0, 1e-14);
  EXPECT_EQ(student_t_cdf(INFINITY, 4), 1.0);
  EXPECT_EQ(student_t_cdf(-INFINITY, 4), 0.0);
  EXPECT_THROW(student_t_cdf(1, 0), std::invalid_argument);
}

TEST(Statistics, StudentTQuantile) {
  // t tables: t_{0.975, 10} = 2.228, t_{0.975, 1} = 12.706, t_{0.999, 4} = 7.173.
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.2281388519862747, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736174705, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.999, 4), 7.1731822197823085, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.025, 3.7), -2.8675207071911895, 1e-10);
  EXPECT_EQ(student_t_quantile(0.5, 9), 0.0);
  for (double p : {0.01, 0.2, 0.6, 0.95}) {
    EXPECT_NEAR(student_t_cdf(student_t_quantile(p, 2.7), 2.7), p, 1e-12) << p;
  }
  EXPECT_THROW(student_t_quantile(1, 5), std::invalid_argument);
  EXPECT_THROW(student_t_quantile(0, 5), std::invalid_argument);
}

// Unequal variances and unequal n. By hand:
//   a = {0.712, 0.705, 0.731, 0.698, 0.720}: mean 0.7132, s^2 = 0.0006647 / 4 = 1.66175e-4
//   b = {0.690, 0.655, 0.701}:               mean 0.682,  s^2 = 0.001154 / 2 = 5.77e-4
//   va = s_a^2 / 5 = 3.3235e-5, vb = s_b^2 / 3 = 1.92333e-4, SE = sqrt(va + vb) = 0.0150158
//   df = (va + vb)^2 / (va^2 / 4 + vb^2 / 2) = 2.70839 (Welch-Satterthwaite)
//   t = 0.0312 / SE = 2.07782; p = 2 P(T_df > t) = 0.139001
//   t_{0.975, df} = 3.38535, so the 95% interval is 0.0312 -+ 3.38535 SE = [-0.0196336, 0.0820336]
// (what scipy.stats.ttest_ind(a, b, equal_var=False) computes; the digits asserted are mpmath's.)
TEST(Statistics, WelchUnequalVariancesAndUnequalN) {
  const auto w =
      welch_test(mean_std({0.712, 0.705, 0.731, 0.698, 0.720}), mean_std({0.690, 0.655, 0.701}));
  ASSERT_TRUE(w.has_value());
  EXPECT_NEAR(w->difference, 0.0312, 1e-12);
  EXPECT_NEAR(w->standard_error, 0.015015769488552138, 1e-12);
  EXPECT_NEAR(w->df, 2.7083933727613045, 1e-9);
  EXPECT_NEAR(w->t, 2.0778155940517432, 1e-9);
  EXPECT_NEAR(w->p_value, 0.13900075560813724, 1e-9);
  EXPECT_NEAR(w->ci_low, -0.019633641196318593, 1e-9);
  EXPECT_NEAR(w->ci_high, 0.082033641196318593, 1e-9);

  // Swapping the sides negates the difference and the interval; p stays.
  const auto back =
      welch_test(mean_std({0.690, 0.655, 0.701}), mean_std({0.712, 0.705, 0.731, 0.698, 0.720}));
  ASSERT_TRUE(back.has_value());
  EXPECT_NEAR(back->difference, -0.0312, 1e-12);
  EXPECT_NEAR(back->ci_low, -0.082033641196318593, 1e-9);
  EXPECT_NEAR(back->ci_high, 0.019633641196318593, 1e-9);
  EXPECT_NEAR(back->p_value, w->p_value, 1e-14);
}

// Equal n, unequal variances: a = {0.74, 0.75, 0.76} (s^2 = 1e-4), b = {0.70, 0.72, 0.74}
// (s^2 = 4e-4); SE = sqrt(5e-4 / 3) = 0.0129099,
// df = (5e-4/3)^2 / ((1e-4/3)^2 / 2 + (4e-4/3)^2 / 2) = 25 / (17/2) = 50/17 (below the pooled
// test's 4), t = 0.03 / SE = 2.32379, p = 0.104479, t_{0.975, df} = 3.21876.
TEST(Statistics, WelchEqualN) {
  const auto w = welch_test(mean_std({0.74, 0.75, 0.76}), mean_std({0.70, 0.72, 0.74}));
  ASSERT_TRUE(w.has_value());
  EXPECT_NEAR(w->difference, 0.03, 1e-12);
  EXPECT_NEAR(w->df, 50.0 / 17.0, 1e-9);
  EXPECT_NEAR(w->p_value, 0.10447888668472187, 1e-9);
  EXPECT_NEAR(w->ci_low, -0.011553995031825059, 1e-9);
  EXPECT_NEAR(w->ci_high, 0.071553995031825059, 1e-9);
}

TEST(Statistics, WelchNeedsTwoValuesOnEachSide) {
  EXPECT_FALSE(welch_test(mean_std({0.7}), mean_std({0.6, 0.65})).has_value());
  EXPECT_FALSE(welch_test(mean_std({0.6, 0.65}), mean_std({0.7})).has_value());
  EXPECT_FALSE(welch_test(mean_std({}), mean_std({0.6, 0.65})).has_value());
  EXPECT_THROW(welch_test(mean_std({0.6, 0.7}), mean_std({0.6, 0.7}), 1.0), std::invalid_argument);
}

TEST(Statistics, WelchWithoutVarianceIsExact) {
  const auto w = welch_test(mean_std({0.5, 0.5}), mean_std({0.25, 0.25, 0.25}));
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->difference, 0.25);
  EXPECT_EQ(w->ci_low, 0.25);
  EXPECT_EQ(w->ci_high, 0.25);
  EXPECT_EQ(w->p_value, 0.0);
  EXPECT_EQ(welch_test(mean_std({0.5, 0.5}), mean_std({0.5, 0.5}))->p_value, 1.0);
  // One side constant: df is the other side's n - 1.
  EXPECT_NEAR(welch_test(mean_std({0.5, 0.5}), mean_std({0.2, 0.3, 0.4}))->df, 2.0, 1e-12);
}

}  // namespace
}  // namespace cifar_exp
