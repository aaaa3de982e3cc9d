// The shared Catch2 main: every SystemC warning or error becomes an exception, so a test that
// provokes one fails (unless it expects it). SystemC's deprecation notices are left alone.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <systemc>

int main(int argc, char* argv[]) {
  using namespace sc_core;
  sc_report_handler::set_actions(SC_WARNING, SC_THROW);
  sc_report_handler::set_actions(SC_ERROR, SC_THROW);
  sc_report_handler::set_actions(SC_FATAL, SC_THROW);
  sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", SC_DO_NOTHING);
  return Catch::Session().run(argc, argv);
}

// libsystemc.so refers to sc_main (its own main calls it); tests have their own main above.
int sc_main(int, char*[]) {
  return 1;
}
