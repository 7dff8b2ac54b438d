//! The SCIM filter parser on arbitrary text: never panics, and what it
//! accepts renders to text that parses back to the same tree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use snyk_scim_bridge::scim::filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = filter::parse(text) {
        let rendered = f.to_string();
        let again = filter::parse(&rendered).expect("a rendered filter parses");
        assert_eq!(again, f, "parse(render(f)) == f for {rendered:?}");
    }
});
