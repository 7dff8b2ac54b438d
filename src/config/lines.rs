//! Where each `[[mappings]]` entry starts in the file, so a finding about
//! one mapping (`check-config --online`) can name its line. Reads text only;
//! never a value.

/// The 1-based line of each `[[mappings]]` header, in file order. Mappings
/// written another way (an inline array) are not found: the caller then
/// names them `mappings[i]`.
pub fn mapping_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split('#').next().unwrap_or("");
            let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
            squeezed == "[[mappings]]"
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_headers_are_found_with_their_lines() {
        let text = "database_url = \"x\"\n\n[[mappings]]\ngroup = \"a\"\n  [[ mappings ]] # second\n# [[mappings]]\n[mappings_other]\n";
        assert_eq!(mapping_lines(text), vec![3, 5]);
        assert!(mapping_lines("mappings = [{group = \"a\"}]").is_empty());
    }
}
