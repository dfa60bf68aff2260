// FUZZ_CHECK: a property a fuzz target asserts about the code under test. A failure prints the
// condition and aborts, which libFuzzer reports as a crash and saves the input for.
//
//   FUZZ_CHECK(decoded.ok(), "a blob it encoded does not decode: " << decoded.status());
#ifndef RWKV_TESTS_FUZZ_FUZZ_CHECK_H_
#define RWKV_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdlib>
#include <iostream>

#define FUZZ_CHECK(condition, message)                                                 \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::cerr << __FILE__ << ":" << __LINE__ << ": FUZZ_CHECK(" #condition ") failed: " \
                << message << std::endl;                                               \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)

#endif  // RWKV_TESTS_FUZZ_FUZZ_CHECK_H_
