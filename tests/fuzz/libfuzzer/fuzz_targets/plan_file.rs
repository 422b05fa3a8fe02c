#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::plan_file(data));
