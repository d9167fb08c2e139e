WRAP_test_stage := memfd_create pwrite
WRAP_test_kx := sys_kexec_file_load sys_reboot_kexec sys_sync sys_run sys_geteuid
WRAP_test_http := curl_easy_setopt
WRAP_test_netlink := socket sendto recvfrom
WRAP_test_report := curl_easy_setopt
WRAP_test_par := curl_easy_setopt
WRAP_test_fleet := faccessat
