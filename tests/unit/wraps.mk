WRAP_test_stage := memfd_create
