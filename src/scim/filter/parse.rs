//! The filter and PATCH path parser: text to [`Filter`] / [`PatchPath`],
//! iterative over `and`/`or` chains and with an explicit nesting counter, so no
//! input can exhaust the stack. Never panics.

use serde_json::Number;

use super::*;

/// Where an expression occurs: value paths may not appear inside a value filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Filter,
    ValueFilter,
}

/// A parsed subtree together with its height (leaves have height 0).
struct Node {
    filter: Filter,
    height: usize,
}

impl Node {
    fn leaf(filter: Filter) -> Node {
        Node { filter, height: 0 }
    }

    fn wrap(
        inner: Node,
        make: impl FnOnce(Box<Filter>) -> Filter,
        position: usize,
    ) -> Result<Node, FilterError> {
        let height = checked_height(inner.height, position)?;
        Ok(Node {
            filter: make(Box::new(inner.filter)),
            height,
        })
    }

    fn join(
        left: Node,
        right: Node,
        make: fn(Box<Filter>, Box<Filter>) -> Filter,
        position: usize,
    ) -> Result<Node, FilterError> {
        let height = checked_height(left.height.max(right.height), position)?;
        Ok(Node {
            filter: make(Box::new(left.filter), Box::new(right.filter)),
            height,
        })
    }
}

/// RFC 7644 3.4.2.2: `gt`, `ge`, `lt` and `le` on a boolean (or `null`) fail.
fn comparable(op: CompareOp, value: &CompValue, position: usize) -> Result<(), FilterError> {
    if op.is_ordering() && matches!(value, CompValue::Bool(_) | CompValue::Null) {
        Err(FilterError::new(
            format!("{op} orders values; it cannot compare with {value}"),
            position,
        ))
    } else {
        Ok(())
    }
}

/// The height of a node whose tallest child has height `child`, if within [`MAX_DEPTH`].
fn checked_height(child: usize, position: usize) -> Result<usize, FilterError> {
    let height = child.saturating_add(1);
    if height > MAX_DEPTH {
        Err(FilterError::too_deep(position))
    } else {
        Ok(height)
    }
}

pub(super) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// How many parentheses / brackets enclose the current position.
    nesting: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            nesting: 0,
        }
    }

    // --- low-level cursor helpers ---

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.pos += expected.len_utf8();
        }
        found
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        self.take_while(is_ws);
    }

    /// Describes the next character for error messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_owned(),
            Some(c) => format!("'{}'", c.escape_debug()),
        }
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError::new(message, self.pos)
    }

    pub(super) fn expect_end(&self, what: &str) -> Result<(), FilterError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(format!("expected {what}, found {}", self.found()))),
        }
    }

    /// Consumes keyword `kw` (any case) when it is followed by whitespace, `(` or the end.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        let len = letters_len(rest);
        let is_kw = rest.get(..len).is_some_and(|w| w.eq_ignore_ascii_case(kw))
            && rest
                .get(len..)
                .and_then(|after| after.chars().next())
                .is_none_or(|c| is_ws(c) || c == '(');
        if is_kw {
            self.pos += len;
        }
        is_kw
    }

    /// Whether the input continues with `not` followed by optional whitespace and `(`.
    fn at_not_operator(&self) -> bool {
        let rest = self.rest();
        let len = letters_len(rest);
        rest.get(..len)
            .is_some_and(|w| w.eq_ignore_ascii_case("not"))
            && rest
                .get(len..)
                .is_some_and(|after| after.trim_start_matches(is_ws).starts_with('('))
    }

    /// Runs `body` one nesting level deeper; `open` is where the opening bracket is.
    fn nested<T>(
        &mut self,
        open: usize,
        body: impl FnOnce(&mut Self) -> Result<T, FilterError>,
    ) -> Result<T, FilterError> {
        if self.nesting >= MAX_DEPTH {
            return Err(FilterError::too_deep(open));
        }
        self.nesting += 1;
        let result = body(self);
        self.nesting -= 1;
        result
    }

    /// Expects the `close` bracket matching the `open_char` at byte `open`.
    fn close(&mut self, close: char, open_char: char, open: usize) -> Result<(), FilterError> {
        self.skip_ws();
        if self.eat(close) {
            return Ok(());
        }
        let message = match self.peek() {
            None => format!(
                "unbalanced '{open_char}' at byte {open}: expected '{close}', found end of input"
            ),
            Some(_) => format!(
                "expected 'and', 'or' or '{close}' to close the '{open_char}' at byte {open}, \
                 found {}",
                self.found()
            ),
        };
        Err(self.error(message))
    }

    // --- filters ---

    pub(super) fn complete_filter(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(
                "empty filter: expected an attribute expression, 'not (' or '(' at the start",
            ));
        }
        let node = self.or_expr(Scope::Filter)?;
        self.skip_ws();
        match self.peek() {
            None => Ok(node.filter),
            Some(c @ (')' | ']')) => Err(self.error(format!(
                "unexpected '{c}' without a matching opening bracket"
            ))),
            Some(_) => Err(self.error(format!(
                "expected 'and', 'or' or end of input, found {}",
                self.found()
            ))),
        }
    }

    fn or_expr(&mut self, scope: Scope) -> Result<Node, FilterError> {
        let mut left = self.and_expr(scope)?;
        loop {
            self.skip_ws();
            let keyword_pos = self.pos;
            if !self.eat_keyword("or") {
                return Ok(left);
            }
            let right = self.and_expr(scope)?;
            left = Node::join(left, right, Filter::Or, keyword_pos)?;
        }
    }

    fn and_expr(&mut self, scope: Scope) -> Result<Node, FilterError> {
        let mut left = self.unary(scope)?;
        loop {
            self.skip_ws();
            let keyword_pos = self.pos;
            if !self.eat_keyword("and") {
                return Ok(left);
            }
            let right = self.unary(scope)?;
            left = Node::join(left, right, Filter::And, keyword_pos)?;
        }
    }

    fn unary(&mut self, scope: Scope) -> Result<Node, FilterError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => self.group(scope),
            Some(_) if self.at_not_operator() => self.not_expr(scope),
            Some(c) if is_path_char(c) => self.attr_expr(scope),
            _ => Err(self.error(format!(
                "expected an attribute path, 'not (' or '(', found {}",
                self.found()
            ))),
        }
    }

    /// `"(" FILTER ")"`, starting at the `(`.
    fn group(&mut self, scope: Scope) -> Result<Node, FilterError> {
        let open = self.pos;
        self.bump();
        let node = self.nested(open, |p| p.or_expr(scope))?;
        self.close(')', '(', open)?;
        Ok(node)
    }

    /// `"not" "(" FILTER ")"`, starting at `not`.
    fn not_expr(&mut self, scope: Scope) -> Result<Node, FilterError> {
        let start = self.pos;
        self.take_while(|c| c.is_ascii_alphabetic());
        self.skip_ws();
        let inner = self.group(scope)?;
        Node::wrap(inner, Filter::Not, start)
    }

    /// `attrPath "pr"`, `attrPath compareOp compValue` or a value path.
    fn attr_expr(&mut self, scope: Scope) -> Result<Node, FilterError> {
        let path = self.attr_path()?;
        self.skip_ws();
        if self.peek() == Some('[') {
            return self.value_path(path, scope);
        }
        let op_pos = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        let filter = if word.eq_ignore_ascii_case("pr") {
            Filter::Present(path)
        } else {
            let op = CompareOp::from_keyword(word)
                .ok_or_else(|| self.operator_error(&path, word, op_pos))?;
            self.skip_ws();
            let value = self.comp_value()?;
            comparable(op, &value, op_pos)?;
            Filter::Compare { path, op, value }
        };
        self.expect_separator()?;
        Ok(Node::leaf(filter))
    }

    fn operator_error(&self, path: &AttrPath, word: &str, position: usize) -> FilterError {
        const EXPECTED: &str = "eq, ne, co, sw, ew, gt, ge, lt, le or pr";
        let mut message = if word.is_empty() {
            format!(
                "expected an operator ({EXPECTED}) after '{path}', found {}",
                self.found()
            )
        } else {
            format!("unknown operator '{word}'; expected {EXPECTED}")
        };
        if path.uri.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("not") {
            message.push_str(" (the 'not' operator must be followed by a parenthesised filter)");
        }
        FilterError::new(message, position)
    }

    /// `attrPath "[" valFilter "]"`, positioned at the `[`.
    fn value_path(&mut self, path: AttrPath, scope: Scope) -> Result<Node, FilterError> {
        let open = self.pos;
        if scope == Scope::ValueFilter {
            return Err(self.error(format!(
                "value paths cannot be nested: '{path}[' appears inside another value filter"
            )));
        }
        let mut inner = self.bracketed_value_filter()?;
        if self.peek() == Some('.') {
            // Entra's matching-attribute form `emails[type eq "work"].value eq "x"`
            // (not RFC grammar): read as `emails[type eq "work" and value eq "x"]`.
            self.bump();
            let sub_start = self.pos;
            let sub = self.take_while(is_path_char).to_owned();
            if sub.is_empty() || sub.contains('.') || sub.contains(':') {
                return Err(FilterError::new(
                    "expected a sub-attribute name after ']'.".to_owned(),
                    sub_start,
                ));
            }
            validate_name(&sub, sub_start, "sub-attribute name")?;
            let sub_path = AttrPath {
                uri: None,
                name: sub,
                sub: None,
            };
            self.skip_ws();
            let op_pos = self.pos;
            let word = self.take_while(|c| c.is_ascii_alphabetic());
            let condition = if word.eq_ignore_ascii_case("pr") {
                Filter::Present(sub_path)
            } else {
                let op = CompareOp::from_keyword(word)
                    .ok_or_else(|| self.operator_error(&sub_path, word, op_pos))?;
                self.skip_ws();
                let value = self.comp_value()?;
                comparable(op, &value, op_pos)?;
                Filter::Compare {
                    path: sub_path,
                    op,
                    value,
                }
            };
            self.expect_separator()?;
            inner = Node::join(inner, Node::leaf(condition), Filter::And, open)?;
        }
        Node::wrap(inner, |filter| Filter::ValuePath { path, filter }, open)
    }

    /// `"[" valFilter "]"`, positioned at the `[`.
    fn bracketed_value_filter(&mut self) -> Result<Node, FilterError> {
        let open = self.pos;
        self.bump();
        let inner = self.nested(open, |p| p.or_expr(Scope::ValueFilter))?;
        self.close(']', '[', open)?;
        Ok(inner)
    }

    /// After a value or `pr`, the next token must be separated from it.
    fn expect_separator(&self) -> Result<(), FilterError> {
        match self.peek() {
            None | Some(')' | ']') => Ok(()),
            Some(c) if is_ws(c) => Ok(()),
            Some(_) => Err(self.error(format!(
                "expected whitespace, ')', ']' or end of input after the expression, found {}",
                self.found()
            ))),
        }
    }

    // --- attribute paths ---

    pub(super) fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.pos;
        let text = self.take_while(is_path_char);
        if text.is_empty() {
            return Err(self.error(format!(
                "expected an attribute path, found {}",
                self.found()
            )));
        }
        split_attr_path(text, start)
    }

    // --- values ---

    fn comp_value(&mut self) -> Result<CompValue, FilterError> {
        match self.peek() {
            Some('"') => self.string().map(CompValue::Str),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number().map(CompValue::Num),
            Some(c) if c.is_ascii_alphabetic() => self.literal(),
            _ => Err(self.error(format!(
                "expected a value (a string in double quotes, a number, true, false or null), \
                 found {}",
                self.found()
            ))),
        }
    }

    fn literal(&mut self) -> Result<CompValue, FilterError> {
        let start = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match word.to_ascii_lowercase().as_str() {
            "true" => Ok(CompValue::Bool(true)),
            "false" => Ok(CompValue::Bool(false)),
            "null" => Ok(CompValue::Null),
            _ => Err(FilterError::new(
                format!(
                    "invalid value '{word}'; expected a string in double quotes, a number, \
                     true, false or null"
                ),
                start,
            )),
        }
    }

    /// A JSON string, positioned at the opening quote.
    fn string(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let char_pos = self.pos;
            match self.bump() {
                None => return Err(unterminated_string(open)),
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape(open, char_pos)?),
                Some(c) if c < ' ' => {
                    return Err(FilterError::new(
                        format!(
                            "control character U+{:04X} in a string must be escaped",
                            u32::from(c)
                        ),
                        char_pos,
                    ));
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// The character denoted by an escape sequence; the backslash is at `backslash`.
    fn escape(&mut self, open: usize, backslash: usize) -> Result<char, FilterError> {
        match self.bump() {
            None => Err(unterminated_string(open)),
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('/') => Ok('/'),
            Some('b') => Ok('\u{8}'),
            Some('f') => Ok('\u{c}'),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some('u') => self.unicode_escape(backslash),
            Some(other) => Err(FilterError::new(
                format!(
                    "invalid escape '\\{}'; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \
                     or \\uXXXX",
                    other.escape_debug()
                ),
                backslash,
            )),
        }
    }

    /// The rest of a `\uXXXX` escape (after the `u`), combining surrogate pairs.
    fn unicode_escape(&mut self, backslash: usize) -> Result<char, FilterError> {
        let unpaired = || {
            FilterError::new(
                "unpaired UTF-16 surrogate in \\u escape; expected a high surrogate \
                 (\\uD800-\\uDBFF) followed by a low surrogate (\\uDC00-\\uDFFF)",
                backslash,
            )
        };
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with("\\u") {
                    return Err(unpaired());
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(unpaired());
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(unpaired()),
            _ => first,
        };
        char::from_u32(code).ok_or_else(unpaired)
    }

    fn hex4(&mut self) -> Result<u32, FilterError> {
        let digits = self
            .rest()
            .get(..4)
            .filter(|d| d.chars().all(|c| c.is_ascii_hexdigit()));
        let value = digits.and_then(|d| u32::from_str_radix(d, 16).ok());
        match value {
            Some(value) => {
                self.pos += 4;
                Ok(value)
            }
            None => Err(self.error("invalid \\u escape: expected four hexadecimal digits")),
        }
    }

    /// A JSON number, positioned at its first character.
    fn number(&mut self) -> Result<Number, FilterError> {
        let start = self.pos;
        self.eat('-');
        self.integer_digits()?;
        let mut is_float = false;
        if self.eat('.') {
            is_float = true;
            self.digits("after the decimal point")?;
        }
        if self.eat('e') || self.eat('E') {
            is_float = true;
            let _sign = self.eat('+') || self.eat('-');
            self.digits("in the exponent")?;
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        json_number(text, is_float)
            .ok_or_else(|| FilterError::new(format!("number {text} is out of range"), start))
    }

    fn integer_digits(&mut self) -> Result<(), FilterError> {
        if self.eat('0') {
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.error("numbers must not have leading zeros"));
            }
            return Ok(());
        }
        self.digits("in the number")
    }

    fn digits(&mut self, context: &str) -> Result<(), FilterError> {
        if self.take_while(|c| c.is_ascii_digit()).is_empty() {
            Err(self.error(format!(
                "expected a digit {context}, found {}",
                self.found()
            )))
        } else {
            Ok(())
        }
    }

    // --- PATCH paths ---

    pub(super) fn patch_path(&mut self) -> Result<PatchPath, FilterError> {
        let attr = self.attr_path()?;
        if self.peek() != Some('[') {
            self.expect_end("'[' or end of the path")?;
            return Ok(PatchPath {
                attr,
                filter: None,
                sub_after_filter: None,
            });
        }
        let filter = self.bracketed_value_filter()?.filter;
        let sub_after_filter = if self.eat('.') {
            let start = self.pos;
            let name = self.take_while(|c| is_name_char(c) || c == '$');
            validate_name(name, start, "sub-attribute name")?;
            Some(name.to_owned())
        } else {
            None
        };
        self.expect_end("'.' followed by a sub-attribute, or end of the path")?;
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub_after_filter,
        })
    }
}

fn unterminated_string(open: usize) -> FilterError {
    FilterError::new(
        "unterminated string: expected a closing '\"' before end of input",
        open,
    )
}

/// Converts text that matches the JSON number grammar; `None` when it is out of range.
fn json_number(text: &str, is_float: bool) -> Option<Number> {
    if !is_float {
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(n.into());
        }
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_path_char(c: char) -> bool {
    is_name_char(c) || matches!(c, '$' | ':' | '.')
}

/// Length of the run of ASCII letters at the start of `s`.
fn letters_len(s: &str) -> usize {
    s.find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len())
}

/// Splits attribute path text found at byte `start` into URN, name and sub-attribute.
fn split_attr_path(text: &str, start: usize) -> Result<AttrPath, FilterError> {
    let (uri, rest, rest_offset) = match split_urn(text) {
        Some((uri, rest)) => {
            validate_urn(uri, start)?;
            (Some(uri.to_owned()), rest, uri.len() + 1)
        }
        None => (None, text, 0),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let name_pos = start + rest_offset;
    validate_name(name, name_pos, "attribute name")?;
    if let Some(sub) = sub {
        validate_name(sub, name_pos + name.len() + 1, "sub-attribute name")?;
    }
    Ok(AttrPath {
        uri,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// For text starting with `urn:` (any case), the parts before and after its last `:`.
fn split_urn(text: &str) -> Option<(&str, &str)> {
    if starts_with_ignore_ascii_case(text, "urn:") {
        text.rsplit_once(':')
    } else {
        None
    }
}

fn validate_urn(uri: &str, position: usize) -> Result<(), FilterError> {
    let segments_ok = uri
        .split(':')
        .all(|segment| !segment.is_empty() && !segment.contains('$'));
    if uri.len() > "urn:".len() && segments_ok {
        Ok(())
    } else {
        Err(FilterError::new(
            format!(
                "invalid schema URN '{uri}'; expected 'urn:' and non-empty ':'-separated \
                 segments before the attribute name"
            ),
            position,
        ))
    }
}

/// Checks `name` (found at byte `position`) against `ATTRNAME = ALPHA *(nameChar) / "$ref"`.
fn validate_name(name: &str, position: usize, what: &str) -> Result<(), FilterError> {
    if name.eq_ignore_ascii_case("$ref") {
        return Ok(());
    }
    let Some(first) = name.chars().next() else {
        return Err(FilterError::new(
            format!(
                "missing {what}: expected a letter followed by letters, digits, '-' or '_' \
                 (or '$ref')"
            ),
            position,
        ));
    };
    if !first.is_ascii_alphabetic() {
        return Err(FilterError::new(
            format!("{what} '{name}' must start with a letter (or be '$ref')"),
            position,
        ));
    }
    match name.char_indices().find(|&(_, c)| !is_name_char(c)) {
        Some((offset, c)) => Err(FilterError::new(
            format!(
                "invalid character '{c}' in {what} '{name}'; expected letters, digits, '-' or \
                 '_' (schema URNs start with 'urn:')"
            ),
            position + offset,
        )),
        None => Ok(()),
    }
}

pub(super) fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}
