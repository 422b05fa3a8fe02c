#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::state_file(data));
