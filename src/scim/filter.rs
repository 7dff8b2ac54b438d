//! SCIM 2.0 filter language (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2).
//!
//! This module turns the text of a `filter` query parameter into a [`Filter`] tree ([`parse`]),
//! renders a tree back into canonical filter text (`Display`), parses the `path` of a PATCH
//! operation ([`parse_patch_path`]) and evaluates a filter against a resource stored as JSON
//! ([`matches`]).
//!
//! Everything here is pure: there is no I/O, no global state, and no function panics on any
//! input text or any JSON shape. Malformed text yields a [`FilterError`] carrying a human
//! readable message (naming what was expected) and the byte offset where the problem was found.
//!
//! # Accepted grammar
//!
//! The ABNF of RFC 7644 with the usual precedence (`not` binds tighter than `and`, which binds
//! tighter than `or`; `and`/`or` are left-associative) and grouping parentheses:
//!
//! ```text
//! FILTER    = orExp
//! orExp     = andExp *(SP "or" SP andExp)
//! andExp    = unary *(SP "and" SP unary)
//! unary     = "not" [SP] "(" FILTER ")" / "(" FILTER ")" / valuePath / attrExp
//! valuePath = attrPath [SP] "[" valFilter "]"      ; valFilter = FILTER without valuePath
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//! compValue = "false" / "null" / "true" / number / string   ; RFC 8259 JSON literals
//! attrPath  = [URI ":"] ATTRNAME [subAttr]
//! subAttr   = "." ATTRNAME
//! ATTRNAME  = ALPHA *(nameChar) / "$ref"
//! nameChar  = "-" / "_" / DIGIT / ALPHA
//! URI       = "urn:" segment *(":" segment)         ; segments of ALPHA / DIGIT / "-" / "_" / "."
//! PATH      = attrPath / valuePath [subAttr]          ; PATCH path, see parse_patch_path
//! ```
//!
//! `SP` is one or more of space, tab, CR or LF, and extra whitespace is accepted around
//! operators, parentheses and brackets. Keywords (`and`, `or`, `not`, `pr`, the comparison
//! operators, `true`, `false`, `null`) are case-insensitive. A path starting with `urn:` is
//! split at its last `:` into the schema URN and the attribute, so
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` names the
//! `manager.value` attribute of the enterprise extension.
//!
//! # Limits
//!
//! Filter text longer than [`MAX_LEN`] bytes is rejected. Nesting is limited to [`MAX_DEPTH`]
//! levels, counted twice over: the nesting of parentheses, `not (` and value path brackets in the
//! text, and the height of the resulting tree, where every `not`, value path and every link of an
//! `and`/`or` chain adds a level. A flat chain of more than `MAX_DEPTH + 1` terms is therefore
//! rejected too. The parser builds chains iteratively and checks nesting with an explicit counter,
//! so no input can exhaust the stack, and every tree it returns is shallow enough to be rendered,
//! evaluated and dropped recursively (trees assembled by hand should stay within the same limit).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use chrono::DateTime;
use serde_json::{Map, Number, Value};

/// Deepest nesting (of parentheses, `not`, value paths and `and`/`or` chains) that parses.
pub const MAX_DEPTH: usize = 64;
/// Longest filter text, in bytes, that parses.
pub const MAX_LEN: usize = 8192;

/// Schema URNs with this prefix name core schemas, whose attributes live at the top level.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// An attribute path: `[uri ":"] name ["." sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path was written fully qualified.
    pub uri: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses a string that is exactly one attribute path (no surrounding whitespace).
    pub fn parse(s: &str) -> Result<AttrPath, FilterError> {
        check_length(s)?;
        let mut parser = Parser::new(s);
        let path = parser.attr_path()?;
        parser.expect_end("end of the attribute path")?;
        Ok(path)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal to.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal to.
    Le,
}

impl CompareOp {
    const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn from_keyword(word: &str) -> Option<CompareOp> {
        Self::ALL
            .into_iter()
            .find(|op| op.keyword().eq_ignore_ascii_case(word))
    }

    /// Whether an ordering between the attribute value and the filter value satisfies `self`.
    fn holds_for(self, order: Ordering) -> bool {
        match self {
            CompareOp::Eq => order.is_eq(),
            CompareOp::Ne => order.is_ne(),
            CompareOp::Gt => order.is_gt(),
            CompareOp::Ge => order.is_ge(),
            CompareOp::Lt => order.is_lt(),
            CompareOp::Le => order.is_le(),
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, escapes resolved.
    Str(String),
    /// A JSON number.
    Num(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write_json_string(f, s),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    /// `filter and filter`.
    And(Box<Filter>, Box<Filter>),
    /// `filter or filter`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`.
    Not(Box<Filter>),
    /// `attrPath[valFilter]`; the inner paths are relative to the elements of `path`.
    ValuePath { path: AttrPath, filter: Box<Filter> },
}

impl Filter {
    /// Binding strength when rendered: `or` < `and` < everything else.
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(left, right) => write_binary(f, left, "and", right, 2),
            Filter::Or(left, right) => write_binary(f, left, "or", right, 1),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// Writes a left-associative binary expression whose operator has precedence `level`.
fn write_binary(
    f: &mut fmt::Formatter<'_>,
    left: &Filter,
    keyword: &str,
    right: &Filter,
    level: u8,
) -> fmt::Result {
    write_operand(f, left, level)?;
    write!(f, " {keyword} ")?;
    write_operand(f, right, level + 1)
}

/// Writes `operand`, parenthesised when it binds more loosely than `min_precedence`.
fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, min_precedence: u8) -> fmt::Result {
    if operand.precedence() < min_precedence {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

/// Writes `s` as a JSON string literal.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_str("\"")
}

/// Why some text is not a valid filter or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// What went wrong and what was expected instead.
    pub message: String,
    /// Byte offset into the input where the problem was found.
    pub position: usize,
}

impl FilterError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        FilterError {
            message: message.into(),
            position,
        }
    }

    fn too_deep(position: usize) -> Self {
        FilterError::new(
            format!(
                "filter is nested deeper than {MAX_DEPTH} levels (parentheses, 'not', value \
                 paths and chained 'and'/'or' all count)"
            ),
            position,
        )
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.position)
    }
}

impl std::error::Error for FilterError {}

/// Parses SCIM filter text (the `filter` query parameter) into a [`Filter`].
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    check_length(input)?;
    Parser::new(input).complete_filter()
}

/// A PATCH operation path (RFC 7644 §3.5.2): `PATH = attrPath / valuePath [subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The targeted attribute.
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute, if any.
    pub filter: Option<Filter>,
    /// The sub-attribute written after the value filter (`emails[type eq "work"].value`).
    pub sub_after_filter: Option<String>,
}

/// Parses a PATCH operation path such as `emails[type eq "work"].value`.
///
/// Inside the brackets the attribute paths are relative to the multi-valued attribute.
pub fn parse_patch_path(s: &str) -> Result<PatchPath, FilterError> {
    check_length(s)?;
    Parser::new(s).patch_path()
}

fn check_length(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_LEN {
        Err(FilterError::new(
            format!(
                "input is {} bytes long; at most {MAX_LEN} bytes are accepted",
                input.len()
            ),
            MAX_LEN,
        ))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

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

/// The height of a node whose tallest child has height `child`, if within [`MAX_DEPTH`].
fn checked_height(child: usize, position: usize) -> Result<usize, FilterError> {
    let height = child.saturating_add(1);
    if height > MAX_DEPTH {
        Err(FilterError::too_deep(position))
    } else {
        Ok(height)
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// How many parentheses / brackets enclose the current position.
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
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

    fn expect_end(&self, what: &str) -> Result<(), FilterError> {
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

    fn complete_filter(&mut self) -> Result<Filter, FilterError> {
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

    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
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

    fn patch_path(&mut self) -> Result<PatchPath, FilterError> {
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

fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// Schema knowledge needed to evaluate filters.
pub trait EvalContext {
    /// True when the attribute's values compare case-sensitively (schema `caseExact`).
    ///
    /// Names are passed as written in the filter, so implementations should compare them
    /// case-insensitively. Inside a value filter such as `emails[value eq "x"]`, `name` is the
    /// multi-valued complex attribute (`emails`, with its `uri`) and `sub` is the attribute
    /// named inside the brackets (`value`).
    fn case_exact(&self, uri: Option<&str>, name: &str, sub: Option<&str>) -> bool;
}

/// Whether `resource` (a resource object as stored) satisfies `filter`.
///
/// Attribute names and schema URNs match object keys case-insensitively. A path qualified
/// with a URN looks inside the extension object stored under that URN; for a core schema URN
/// (or a URN listed in the resource's `schemas` but not stored as an object key) it looks at the
/// top level. An unqualified path looks only at the top level, never into extensions.
///
/// A comparison is true when any value of a multi-valued attribute matches; elements of a
/// multi-valued complex attribute are compared through their `value` sub-attribute unless a
/// sub-attribute is named. `ne` is exactly `not (eq)`, so it holds for missing attributes.
/// `eq null` holds when the attribute has no value (missing, `null`, or an array holding
/// nothing but nulls); `pr` holds when it has a value other than `null`, `""`, `[]` or `{}`.
/// Strings compare case-insensitively (Unicode lowercase) unless [`EvalContext::case_exact`]
/// says otherwise; `gt`/`ge`/`lt`/`le` compare RFC 3339 date-times as instants and other strings
/// lexicographically. Numbers compare numerically (integers exactly), booleans support only
/// `eq`/`ne`, and values of different JSON types never compare equal. A value path holds when
/// some object element of the attribute satisfies the inner filter.
///
/// Evaluation recurses over the tree; trees returned by [`parse`] are at most [`MAX_DEPTH`] deep.
pub fn matches(filter: &Filter, resource: &Value, ctx: &dyn EvalContext) -> bool {
    match filter {
        Filter::Compare { path, op, value } => compare_attribute(resource, path, *op, value, ctx),
        Filter::Present(path) => resolve(resource, path).into_iter().any(is_present),
        Filter::And(left, right) => matches(left, resource, ctx) && matches(right, resource, ctx),
        Filter::Or(left, right) => matches(left, resource, ctx) || matches(right, resource, ctx),
        Filter::Not(inner) => !matches(inner, resource, ctx),
        Filter::ValuePath { path, filter } => value_path_matches(resource, path, filter, ctx),
    }
}

/// Answers `case_exact` inside a value filter by qualifying with the outer attribute.
struct ElementContext<'a> {
    outer: &'a dyn EvalContext,
    uri: Option<&'a str>,
    name: &'a str,
}

impl EvalContext for ElementContext<'_> {
    fn case_exact(&self, _uri: Option<&str>, name: &str, _sub: Option<&str>) -> bool {
        self.outer.case_exact(self.uri, self.name, Some(name))
    }
}

fn value_path_matches(
    resource: &Value,
    path: &AttrPath,
    inner: &Filter,
    ctx: &dyn EvalContext,
) -> bool {
    let element_ctx = ElementContext {
        outer: ctx,
        uri: path.uri.as_deref(),
        name: &path.name,
    };
    resolve(resource, path)
        .into_iter()
        .flat_map(elements)
        .filter(|element| element.is_object())
        .any(|element| matches(inner, element, &element_ctx))
}

/// The elements of a multi-valued value, or the value itself when it is singular.
fn elements(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

fn compare_attribute(
    resource: &Value,
    path: &AttrPath,
    op: CompareOp,
    expected: &CompValue,
    ctx: &dyn EvalContext,
) -> bool {
    if op == CompareOp::Ne {
        return !compare_attribute(resource, path, CompareOp::Eq, expected, ctx);
    }
    let values = resolve(resource, path);
    if *expected == CompValue::Null {
        return op == CompareOp::Eq && values.into_iter().all(is_unassigned);
    }
    let case_exact = ctx.case_exact(path.uri.as_deref(), &path.name, path.sub.as_deref());
    comparable_values(&values)
        .into_iter()
        .any(|actual| compare_value(actual, op, expected, case_exact))
}

/// The raw values a path designates: the attribute itself, or its sub-attribute in the
/// attribute object or in each element of the attribute array.
fn resolve<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(value) = attribute(resource, path.uri.as_deref(), &path.name) else {
        return Vec::new();
    };
    let Some(sub) = path.sub.as_deref() else {
        return vec![value];
    };
    match value {
        Value::Object(map) => find_key(map, sub).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|map| find_key(map, sub))
            .collect(),
        _ => Vec::new(),
    }
}

/// Looks up attribute `name`, qualified by schema `uri`, in `resource`.
fn attribute<'a>(resource: &'a Value, uri: Option<&str>, name: &str) -> Option<&'a Value> {
    let object = resource.as_object()?;
    let Some(uri) = uri else {
        return find_key(object, name);
    };
    if let Some(extension) = find_key(object, uri) {
        return extension.as_object().and_then(|ext| find_key(ext, name));
    }
    if let Some(whole) = find_key(object, &format!("{uri}:{name}")) {
        // e.g. `urn:...:enterprise:2.0:User pr`, which splits as uri `urn:...:2.0`, name `User`.
        return Some(whole);
    }
    if is_resource_schema(object, uri) {
        find_key(object, name)
    } else {
        None
    }
}

/// Whether `uri` names a schema whose attributes are stored at the resource's top level.
fn is_resource_schema(object: &Map<String, Value>, uri: &str) -> bool {
    starts_with_ignore_ascii_case(uri, CORE_SCHEMA_PREFIX)
        || find_key(object, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| {
                schemas
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|schema| schema.eq_ignore_ascii_case(uri))
            })
}

/// Case-insensitive key lookup (exact match first).
fn find_key<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// The scalars to compare: array elements are compared one by one, complex elements through
/// their `value` sub-attribute.
fn comparable_values<'a>(values: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for value in values {
        match value {
            Value::Array(items) => out.extend(items.iter().filter_map(element_value)),
            other => out.push(*other),
        }
    }
    out
}

fn element_value(element: &Value) -> Option<&Value> {
    match element {
        Value::Object(map) => find_key(map, "value"),
        other => Some(other),
    }
}

fn has_content(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_content),
        other => has_content(other),
    }
}

fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(Value::is_null),
        _ => false,
    }
}

/// Compares one attribute value with the filter's value (`op` is never `ne` here in practice,
/// but `ne` is answered consistently as "differs").
fn compare_value(actual: &Value, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(actual), CompValue::Str(expected)) => {
            compare_strings(actual, expected, op, case_exact)
        }
        (Value::Number(actual), CompValue::Num(expected)) => {
            number_order(actual, expected).is_some_and(|order| op.holds_for(order))
        }
        (Value::Bool(actual), CompValue::Bool(expected)) => match op {
            CompareOp::Eq => actual == expected,
            CompareOp::Ne => actual != expected,
            _ => false,
        },
        _ => false,
    }
}

fn compare_strings(actual: &str, expected: &str, op: CompareOp, case_exact: bool) -> bool {
    if op.is_ordering() {
        if let Some(order) = instant_order(actual, expected) {
            return op.holds_for(order);
        }
    }
    let actual = fold_case(actual, case_exact);
    let expected = fold_case(expected, case_exact);
    match op {
        CompareOp::Co => actual.contains(expected.as_ref()),
        CompareOp::Sw => actual.starts_with(expected.as_ref()),
        CompareOp::Ew => actual.ends_with(expected.as_ref()),
        _ => op.holds_for(actual.cmp(&expected)),
    }
}

fn fold_case(s: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Orders two strings as instants when both are RFC 3339 date-times.
fn instant_order(a: &str, b: &str) -> Option<Ordering> {
    let a = DateTime::parse_from_rfc3339(a).ok()?;
    let b = DateTime::parse_from_rfc3339(b).ok()?;
    Some(a.cmp(&b))
}

/// Orders two numbers, exactly when both are integers.
fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    match (exact_integer(a), exact_integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn exact_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    // --- construction helpers ---

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap_or_else(|e| panic!("bad path {s:?}: {e}"))
    }

    fn cmp(p: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            path: path(p),
            op,
            value,
        }
    }

    fn eq(p: &str, s: &str) -> Filter {
        cmp(p, CompareOp::Eq, text(s))
    }

    fn text(s: &str) -> CompValue {
        CompValue::Str(s.to_owned())
    }

    fn num(s: &str) -> CompValue {
        CompValue::Num(s.parse().unwrap())
    }

    fn pr(p: &str) -> Filter {
        Filter::Present(path(p))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn vp(p: &str, inner: Filter) -> Filter {
        Filter::ValuePath {
            path: path(p),
            filter: Box::new(inner),
        }
    }

    fn uri_path(uri: &str, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            uri: Some(uri.to_owned()),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        }
    }

    // --- attribute paths ---

    #[test]
    fn attr_path_table() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            ("userName", None, "userName", None),
            ("name.givenName", None, "name", Some("givenName")),
            ("members.$ref", None, "members", Some("$ref")),
            ("$ref", None, "$ref", None),
            ("x-y_z9", None, "x-y_z9", None),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                Some(CORE_USER),
                "userName",
                None,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                Some(ENTERPRISE),
                "employeeNumber",
                None,
            ),
            (
                "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                Some("URN:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "manager",
                Some("value"),
            ),
        ];
        for &(input, uri, name, sub) in cases {
            let expected = AttrPath {
                uri: uri.map(str::to_owned),
                name: name.to_owned(),
                sub: sub.map(str::to_owned),
            };
            assert_eq!(AttrPath::parse(input), Ok(expected.clone()), "{input}");
            assert_eq!(expected.to_string(), input, "{input}");
        }
    }

    #[test]
    fn attr_path_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected an attribute path"),
            ("1abc", 0, "must start with a letter"),
            ("name.given.x", 10, "invalid character '.'"),
            ("name.", 5, "missing sub-attribute name"),
            ("foo:bar", 3, "invalid character ':'"),
            ("urn:name", 0, "invalid schema URN"),
            ("urn::a:name", 0, "invalid schema URN"),
            ("userName ", 8, "expected end of the attribute path"),
            ("a b", 1, "expected end"),
        ];
        for &(input, position, message) in cases {
            let err = AttrPath::parse(input).unwrap_err();
            assert_eq!(err.position, position, "{input}: {err}");
            assert!(err.message.contains(message), "{input}: {err}");
        }
    }

    // --- parsing ---

    #[test]
    fn parse_table() {
        let work_and_example = and(
            eq("type", "work"),
            cmp("value", CompareOp::Co, text("@example.com")),
        );
        let emails_either = or(
            cmp("emails", CompareOp::Co, text("example.com")),
            cmp("emails.value", CompareOp::Co, text("example.org")),
        );
        let cases: Vec<(&str, Filter)> = vec![
            // RFC 7644 §3.4.2.2 examples
            (r#"userName eq "bjensen""#, eq("userName", "bjensen")),
            (
                r#"name.familyName co "O'Malley""#,
                cmp("name.familyName", CompareOp::Co, text("O'Malley")),
            ),
            (
                r#"userName sw "J""#,
                cmp("userName", CompareOp::Sw, text("J")),
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                Filter::Compare {
                    path: uri_path(CORE_USER, "userName", None),
                    op: CompareOp::Sw,
                    value: text("J"),
                },
            ),
            ("title pr", pr("title")),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                cmp(
                    "meta.lastModified",
                    CompareOp::Gt,
                    text("2011-05-13T04:42:34Z"),
                ),
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                cmp(
                    "meta.lastModified",
                    CompareOp::Ge,
                    text("2011-05-13T04:42:34Z"),
                ),
            ),
            (
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                cmp(
                    "meta.lastModified",
                    CompareOp::Lt,
                    text("2011-05-13T04:42:34Z"),
                ),
            ),
            (
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
                cmp(
                    "meta.lastModified",
                    CompareOp::Le,
                    text("2011-05-13T04:42:34Z"),
                ),
            ),
            (
                r#"title pr and userType eq "Employee""#,
                and(pr("title"), eq("userType", "Employee")),
            ),
            (
                r#"title pr or userType eq "Intern""#,
                or(pr("title"), eq("userType", "Intern")),
            ),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                eq("schemas", ENTERPRISE),
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                and(eq("userType", "Employee"), emails_either.clone()),
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    cmp("userType", CompareOp::Ne, text("Employee")),
                    not(emails_either),
                ),
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                and(
                    eq("userType", "Employee"),
                    vp("emails", work_and_example.clone()),
                ),
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                or(
                    vp("emails", work_and_example),
                    vp(
                        "ims",
                        and(
                            eq("type", "xmpp"),
                            cmp("value", CompareOp::Co, text("@foo.com")),
                        ),
                    ),
                ),
            ),
            // operators and keywords in any case
            (r#"userName EQ "x""#, eq("userName", "x")),
            (
                r#"userName Ne "x""#,
                cmp("userName", CompareOp::Ne, text("x")),
            ),
            (r#"name EW "son""#, cmp("name", CompareOp::Ew, text("son"))),
            ("title PR", pr("title")),
            ("a pr AND b pr Or c pr", or(and(pr("a"), pr("b")), pr("c"))),
            ("NOT (a pr)", not(pr("a"))),
            ("not(a pr)", not(pr("a"))),
            // numbers, booleans, null
            ("age gt 30", cmp("age", CompareOp::Gt, num("30"))),
            ("x eq -1.5e3", cmp("x", CompareOp::Eq, num("-1500.0"))),
            ("x eq 0", cmp("x", CompareOp::Eq, num("0"))),
            ("x eq 1E+2", cmp("x", CompareOp::Eq, num("100.0"))),
            ("x eq 0.25", cmp("x", CompareOp::Eq, num("0.25"))),
            (
                "x eq 18446744073709551615",
                cmp("x", CompareOp::Eq, CompValue::Num(u64::MAX.into())),
            ),
            (
                "x eq -9223372036854775808",
                cmp("x", CompareOp::Eq, CompValue::Num(i64::MIN.into())),
            ),
            (
                "active eq true",
                cmp("active", CompareOp::Eq, CompValue::Bool(true)),
            ),
            (
                "active eq FALSE",
                cmp("active", CompareOp::Eq, CompValue::Bool(false)),
            ),
            ("x eq Null", cmp("x", CompareOp::Eq, CompValue::Null)),
            // string escapes and unicode
            (
                r#"a eq "q\"b\\s\/\b\f\n\r\t""#,
                eq("a", "q\"b\\s/\u{8}\u{c}\n\r\t"),
            ),
            (r#"a eq "\u00e9\ud83d\ude00\u0041""#, eq("a", "é😀A")),
            (r#"a eq "Åsa 😀""#, eq("a", "Åsa 😀")),
            (r#"a eq """#, eq("a", "")),
            // whitespace tolerance
            ("  ( a  pr )  ", pr("a")),
            ("a pr\tand\nb pr", and(pr("a"), pr("b"))),
            (
                r#"emails [ type eq "work" ]"#,
                vp("emails", eq("type", "work")),
            ),
            (r#"a eq"x""#, eq("a", "x")),
            ("a pr and(b pr)", and(pr("a"), pr("b"))),
            ("(a pr)or(b pr)", or(pr("a"), pr("b"))),
            // precedence and associativity
            ("a pr or b pr and c pr", or(pr("a"), and(pr("b"), pr("c")))),
            ("a pr and b pr or c pr", or(and(pr("a"), pr("b")), pr("c"))),
            ("a pr or b pr or c pr", or(or(pr("a"), pr("b")), pr("c"))),
            ("a pr or (b pr or c pr)", or(pr("a"), or(pr("b"), pr("c")))),
            ("not (a pr) and b pr", and(not(pr("a")), pr("b"))),
            ("((a pr))", pr("a")),
            // $ref and URN paths
            (
                r#"members.$ref co "/Users/""#,
                cmp("members.$ref", CompareOp::Co, text("/Users/")),
            ),
            (
                r#"members[$ref ew "x"]"#,
                vp("members", cmp("$ref", CompareOp::Ew, text("x"))),
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
                Filter::Compare {
                    path: uri_path(ENTERPRISE, "employeeNumber", None),
                    op: CompareOp::Eq,
                    value: text("701984"),
                },
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
                Filter::Compare {
                    path: uri_path(ENTERPRISE, "manager", Some("value")),
                    op: CompareOp::Eq,
                    value: text("x"),
                },
            ),
            // keywords used as attribute names
            ("not eq 1", cmp("not", CompareOp::Eq, num("1"))),
            ("and pr and or pr", and(pr("and"), pr("or"))),
            ("pr pr", pr("pr")),
            ("not[a pr]", vp("not", pr("a"))),
            // value filters with not and grouping
            (
                r#"emails[not (type eq "work")]"#,
                vp("emails", not(eq("type", "work"))),
            ),
            (
                r#"emails[(type eq "a" or type eq "b") and primary eq true]"#,
                vp(
                    "emails",
                    and(
                        or(eq("type", "a"), eq("type", "b")),
                        cmp("primary", CompareOp::Eq, CompValue::Bool(true)),
                    ),
                ),
            ),
        ];
        assert!(cases.len() >= 30);
        for (input, expected) in cases {
            assert_eq!(parse(input), Ok(expected.clone()), "{input}");
            let rendered = expected.to_string();
            assert_eq!(
                parse(&rendered),
                Ok(expected),
                "{input} rendered as {rendered}"
            );
        }
    }

    #[test]
    fn display_is_canonical() {
        let cases: &[(&str, &str)] = &[
            (r#"userName EQ "bjensen""#, r#"userName eq "bjensen""#),
            ("  ( a  pr )  ", "a pr"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
            ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
            ("(a pr and b pr) or c pr", "a pr and b pr or c pr"),
            ("NOT(a pr)", "not (a pr)"),
            (r#"emails [ type eq "work" ]"#, r#"emails[type eq "work"]"#),
            (r#"a eq "\u00e9\n\"\\\/""#, r#"a eq "é\n\"\\/""#),
            (r#"a eq "\u0001""#, r#"a eq "\u0001""#),
            ("x eq 1E+2", "x eq 100.0"),
            ("x eq TRUE", "x eq true"),
        ];
        for &(input, expected) in cases {
            assert_eq!(parse(input).unwrap().to_string(), expected, "{input}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty filter"),
            ("   ", 3, "empty filter"),
            ("userName", 8, "expected an operator"),
            ("userName ", 9, "expected an operator"),
            ("userName eq", 11, "expected a value"),
            (r#"userName xx "a""#, 9, "unknown operator 'xx'"),
            (r#"userName equals "a""#, 9, "unknown operator 'equals'"),
            (r#"userName eq "abc"#, 12, "unterminated string"),
            (r#"userName eq "abc\"#, 12, "unterminated string"),
            (r#"userName eq "a\qb""#, 14, "invalid escape '\\q'"),
            (r#"userName eq "\ud800""#, 13, "unpaired UTF-16 surrogate"),
            (r#"userName eq "\udc00""#, 13, "unpaired UTF-16 surrogate"),
            (
                r#"userName eq "\ud800\u0041""#,
                13,
                "unpaired UTF-16 surrogate",
            ),
            (r#"userName eq "\u12""#, 15, "four hexadecimal digits"),
            ("userName eq \"a\u{1}\"", 14, "control character"),
            ("(userName pr", 12, "unbalanced '(' at byte 0"),
            ("((a pr) and b pr", 16, "unbalanced '(' at byte 0"),
            ("(a pr]", 5, "expected 'and', 'or' or ')'"),
            ("userName pr)", 11, "unexpected ')'"),
            ("emails[type pr", 14, "unbalanced '[' at byte 6"),
            ("emails[type pr]]", 15, "unexpected ']'"),
            ("emails[type pr)", 14, "expected 'and', 'or' or ']'"),
            (
                "userName pr userType pr",
                12,
                "expected 'and', 'or' or end of input",
            ),
            ("a pr andy pr", 5, "expected 'and', 'or' or end of input"),
            ("emails[x[y pr]]", 8, "value paths cannot be nested"),
            (
                "emails[x pr and y[z pr]]",
                17,
                "value paths cannot be nested",
            ),
            (
                r#"emails[type pr].value.x eq "x""#,
                16,
                "expected a sub-attribute name",
            ),
            ("userName eq bjensen", 12, "invalid value 'bjensen'"),
            ("userName eq 01", 13, "leading zeros"),
            ("userName eq -", 13, "expected a digit in the number"),
            ("userName eq -a", 13, "expected a digit in the number"),
            ("userName eq 1.", 14, "after the decimal point"),
            ("userName eq 1e", 14, "in the exponent"),
            ("userName eq 1e400", 12, "out of range"),
            ("userName eq +1", 12, "expected a value"),
            ("1abc pr", 0, "must start with a letter"),
            ("name.given.x pr", 10, "invalid character '.'"),
            ("urn:name pr", 0, "invalid schema URN"),
            ("a pr and", 8, "expected an attribute path"),
            ("a pr or ", 8, "expected an attribute path"),
            ("()", 1, "expected an attribute path"),
            ("not a pr", 4, "must be followed by a parenthesised filter"),
            (r#"a eq "x"b"#, 8, "expected whitespace"),
            ("a prx", 2, "unknown operator 'prx'"),
            ("a pr(b pr)", 4, "expected whitespace"),
            ("emails[]", 7, "expected an attribute path"),
            ("not ()", 5, "expected an attribute path"),
            ("a eq \"é", 5, "unterminated string"),
        ];
        for &(input, position, message) in cases {
            let err = parse(input).unwrap_err();
            assert!(
                err.message.contains(message) && err.position == position,
                "{input:?}: got {err}, want {message:?} at {position}"
            );
        }
    }

    #[test]
    fn error_display_mentions_position() {
        let err = parse("a pr)").unwrap_err();
        assert_eq!(err.to_string(), format!("{} (at byte 4)", err.message));
    }

    #[test]
    fn length_limit() {
        let at_limit = format!("a eq \"{}\"", "x".repeat(MAX_LEN - 7));
        assert_eq!(at_limit.len(), MAX_LEN);
        assert!(parse(&at_limit).is_ok());
        let over = format!("a eq \"{}\"", "x".repeat(MAX_LEN - 6));
        let err = parse(&over).unwrap_err();
        assert!(err.message.contains("at most 8192 bytes"), "{err}");
        assert!(parse_patch_path(&"a".repeat(MAX_LEN + 1)).is_err());
        assert!(AttrPath::parse(&"a".repeat(MAX_LEN + 1)).is_err());
    }

    fn parens(depth: usize) -> String {
        format!("{}a pr{}", "(".repeat(depth), ")".repeat(depth))
    }

    fn nots(depth: usize) -> String {
        format!("{}a pr{}", "not (".repeat(depth), ")".repeat(depth))
    }

    fn chain(terms: usize, keyword: &str) -> String {
        vec!["a pr"; terms].join(&format!(" {keyword} "))
    }

    #[test]
    fn depth_limit_boundaries() {
        assert!(parse(&parens(MAX_DEPTH)).is_ok());
        assert!(parse(&parens(MAX_DEPTH + 1)).is_err());
        assert!(parse(&nots(MAX_DEPTH)).is_ok());
        assert!(parse(&nots(MAX_DEPTH + 1)).is_err());
        assert!(parse(&chain(MAX_DEPTH + 1, "and")).is_ok());
        assert!(parse(&chain(MAX_DEPTH + 2, "and")).is_err());
        assert!(parse(&chain(MAX_DEPTH + 2, "or")).is_err());
        let err = parse(&parens(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.position, MAX_DEPTH);
        assert!(err.message.contains("deeper than 64"), "{err}");
        // value path brackets count as nesting too
        let deep_inside = format!("emails[{}]", parens(MAX_DEPTH));
        assert!(parse(&deep_inside).is_err());
        assert!(parse(&format!("emails[{}]", parens(MAX_DEPTH - 1))).is_ok());
    }

    #[test]
    fn huge_inputs_do_not_overflow_the_stack() {
        let opens = "(".repeat(100_000);
        let chain_text = vec!["a eq 1"; 100_000].join(" and ");
        let nots_text = "not (".repeat(100_000);
        for input in [&opens, &chain_text, &nots_text] {
            // through the public entry point (rejected by the length limit) ...
            assert!(parse(input).is_err());
            // ... and past the length limit, straight into the parser.
            let err = Parser::new(input).complete_filter().unwrap_err();
            assert!(err.message.contains("deeper than"), "{err}");
        }
        let long_or = vec!["a pr"; 100_000].join(" or ");
        assert!(Parser::new(&long_or).complete_filter().is_err());
        let brackets = format!("emails[{}", "(".repeat(100_000));
        assert!(Parser::new(&brackets).complete_filter().is_err());
    }

    // --- PATCH paths ---

    #[test]
    fn patch_path_table() {
        let work = eq("type", "work");
        let cases: Vec<(&str, PatchPath)> = vec![
            (
                "name.givenName",
                PatchPath {
                    attr: path("name.givenName"),
                    filter: None,
                    sub_after_filter: None,
                },
            ),
            (
                "userName",
                PatchPath {
                    attr: path("userName"),
                    filter: None,
                    sub_after_filter: None,
                },
            ),
            (
                r#"emails[type eq "work"].value"#,
                PatchPath {
                    attr: path("emails"),
                    filter: Some(work.clone()),
                    sub_after_filter: Some("value".to_owned()),
                },
            ),
            (
                r#"emails[ type eq "work" and primary eq true ]"#,
                PatchPath {
                    attr: path("emails"),
                    filter: Some(and(
                        work,
                        cmp("primary", CompareOp::Eq, CompValue::Bool(true)),
                    )),
                    sub_after_filter: None,
                },
            ),
            (
                r#"members[value eq "2819c223"]"#,
                PatchPath {
                    attr: path("members"),
                    filter: Some(eq("value", "2819c223")),
                    sub_after_filter: None,
                },
            ),
            (
                r#"members[value eq "2819c223"].$ref"#,
                PatchPath {
                    attr: path("members"),
                    filter: Some(eq("value", "2819c223")),
                    sub_after_filter: Some("$ref".to_owned()),
                },
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                PatchPath {
                    attr: uri_path(ENTERPRISE, "manager", Some("value")),
                    filter: None,
                    sub_after_filter: None,
                },
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                PatchPath {
                    attr: uri_path(ENTERPRISE, "employeeNumber", None),
                    filter: None,
                    sub_after_filter: None,
                },
            ),
            (
                "members.$ref",
                PatchPath {
                    attr: path("members.$ref"),
                    filter: None,
                    sub_after_filter: None,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_patch_path(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn patch_path_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected an attribute path"),
            (" name", 0, "expected an attribute path"),
            ("name ", 4, "expected '[' or end of the path"),
            ("name.givenName extra", 14, "expected '[' or end"),
            (r#"emails[type eq "work""#, 21, "unbalanced '[' at byte 6"),
            (
                r#"emails[type eq "work"]."#,
                23,
                "missing sub-attribute name",
            ),
            (
                r#"emails[type eq "work"]x"#,
                22,
                "expected '.' followed by a sub-attribute",
            ),
            (
                r#"emails[type eq "work"].value.x"#,
                28,
                "expected '.' followed",
            ),
            (
                r#"emails[type eq "work"].1x"#,
                23,
                "must start with a letter",
            ),
            ("emails[x[y pr]]", 8, "value paths cannot be nested"),
            ("emails[]", 7, "expected an attribute path"),
        ];
        for &(input, position, message) in cases {
            let err = parse_patch_path(input).unwrap_err();
            assert!(
                err.message.contains(message) && err.position == position,
                "{input:?}: got {err}, want {message:?} at {position}"
            );
        }
    }

    // --- evaluation ---

    /// Case-exact attributes as `(name, sub)`, compared case-insensitively.
    struct TestCtx(&'static [(&'static str, Option<&'static str>)]);

    impl EvalContext for TestCtx {
        fn case_exact(&self, _uri: Option<&str>, name: &str, sub: Option<&str>) -> bool {
            self.0.iter().any(|(n, s)| {
                n.eq_ignore_ascii_case(name)
                    && match (s, sub) {
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        (None, None) => true,
                        _ => false,
                    }
            })
        }
    }

    const CTX: TestCtx = TestCtx(&[("id", None), ("externalId", None), ("ims", Some("value"))]);

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "bjensen",
            "userName": "bjensen@example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara", "middleName": null},
            "title": "Tour Guide",
            "userType": "Employee",
            "nickName": "",
            "displayName": null,
            "active": true,
            "age": 42,
            "score": 3.5,
            "bigId": u64::MAX,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "bjensen@foo.com", "type": "xmpp"}],
            "phoneNumbers": [],
            "tags": ["alpha", "Beta"],
            "addresses": [{"locality": "ÅRHUS", "type": "work"}],
            "members": [{"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223"}],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z"
            },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": {"value": "26118915", "displayName": "John Smith"}
            }
        })
    }

    fn eval(filter: &str, resource: &Value) -> bool {
        let parsed = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        matches(&parsed, resource, &CTX)
    }

    #[test]
    fn evaluation_table() {
        let cases: &[(&str, bool)] = &[
            // strings, case-insensitive names and values
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"USERNAME eq "BJENSEN@EXAMPLE.COM""#, true),
            (r#"userName eq "bjensen""#, false),
            (r#"name.familyName co "o'malley""#, true),
            (r#"NAME.FAMILYNAME co "O'M""#, true),
            (r#"userName sw "J""#, false),
            (r#"userName sw "BJ""#, true),
            (r#"name.givenName ew "ARA""#, true),
            (r#"addresses.locality eq "århus""#, true),
            // caseExact attributes
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"ID sw "2819c""#, true),
            (r#"externalId sw "BJ""#, false),
            (r#"externalId sw "bj""#, true),
            (r#"externalId ne "BJENSEN""#, true),
            // pr
            ("title pr", true),
            ("nickName pr", false),
            ("displayName pr", false),
            ("phoneNumbers pr", false),
            ("missing pr", false),
            ("emails pr", true),
            ("name pr", true),
            ("name.familyName pr", true),
            ("name.middleName pr", false),
            ("emails.value pr", true),
            ("ims.display pr", false),
            // null
            ("displayName eq null", true),
            ("missing eq null", true),
            ("name.middleName eq null", true),
            ("phoneNumbers eq null", true),
            ("title eq null", false),
            ("title ne null", true),
            ("missing ne null", false),
            ("emails.value eq null", false),
            ("ims.display eq null", true),
            ("title gt null", false),
            // missing attributes and ne
            (r#"missing eq "x""#, false),
            (r#"missing ne "x""#, true),
            (r#"userType ne "Employee""#, false),
            (r#"userType ne "intern""#, true),
            (r#"name.missing ne "x""#, true),
            // multi-valued attributes
            (r#"emails co "example.com""#, true),
            (r#"emails co "nowhere""#, false),
            (r#"emails eq "BABS@jensen.org""#, true),
            (r#"emails.value co "jensen.org""#, true),
            (r#"emails.type eq "HOME""#, true),
            (r#"emails.type eq "other""#, false),
            (r#"emails.type ne "work""#, false),
            (r#"tags eq "beta""#, true),
            (r#"tags eq "gamma""#, false),
            (r#"tags sw "AL""#, true),
            (r#"name eq "Barbara""#, false),
            // value paths
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (r#"EMAILS[TYPE eq "WORK"]"#, true),
            (r#"ims[value eq "BJENSEN@FOO.COM"]"#, false),
            (r#"ims[value eq "bjensen@foo.com"]"#, true),
            (r#"ims[type eq "XMPP"]"#, true),
            ("emails[primary eq true]", true),
            ("emails[primary eq false]", false),
            ("emails[not (primary eq true)]", true),
            ("phoneNumbers[type pr]", false),
            (r#"missing[type ne "x"]"#, false),
            (r#"name[givenName eq "barbara"]"#, true),
            (r#"members[$ref ew "/2819C223"]"#, true),
            (r#"members.$ref co "/Users/""#, true),
            // date-times compare as instants
            (r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified lt "2011-05-13T06:42:34+02:00""#, false),
            (r#"meta.lastModified le "2011-05-13T06:42:34+02:00""#, true),
            (r#"meta.lastModified gt "2011-05-13T05:00:00+02:00""#, true),
            (r#"meta.lastModified lt "2011-05-13T04:42:34.001Z""#, true),
            (r#"meta.lastModified eq "2011-05-13T04:42:34Z""#, true),
            (r#"meta.created lt "2011""#, true),
            // lexicographic string ordering
            (r#"title gt "Tour""#, true),
            (r#"title lt "tour guide z""#, true),
            (r#"title gt "TOUR GUIDE""#, false),
            (r#"title ge "TOUR GUIDE""#, true),
            (r#"externalId lt "BJENSEN""#, false),
            // numbers
            ("age eq 42", true),
            ("age eq 42.0", true),
            ("age gt 41.5", true),
            ("age lt 42", false),
            ("age le 42", true),
            ("age ne 43", true),
            (r#"age eq "42""#, false),
            (r#"age ne "42""#, true),
            ("age co 4", false),
            ("score ge 3.5", true),
            ("score lt 3.4", false),
            ("bigId eq 18446744073709551615", true),
            ("bigId eq 18446744073709551614", false),
            ("bigId gt 18446744073709551614", true),
            ("bigId gt -1", true),
            // booleans
            ("active eq true", true),
            ("active eq TRUE", true),
            ("active ne false", true),
            ("active eq false", false),
            ("active gt false", false),
            (r#"active eq "true""#, false),
            (r#"active co "t""#, false),
            // schemas and extension URN paths
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                true,
            ),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
                false,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
                true,
            ),
            (
                r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName eq "john smith""#,
                true,
            ),
            (r#"employeeNumber eq "701984""#, false),
            ("employeeNumber pr", false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "barbara""#,
                true,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User pr",
                true,
            ),
            ("urn:example:other:1.0:Thing:employeeNumber pr", false),
            // RFC compound examples
            ("title pr and userType eq \"Employee\"", true),
            ("title pr or userType eq \"Intern\"", true),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
            ),
            ("not (title pr)", false),
            (
                r#"emails[type eq "work"] and not (ims[type eq "aim"])"#,
                true,
            ),
        ];
        assert!(cases.len() >= 30);
        let resource = user();
        for &(filter, expected) in cases {
            assert_eq!(eval(filter, &resource), expected, "{filter}");
        }
    }

    #[test]
    fn extension_listed_in_schemas_without_object_reads_top_level() {
        let resource = json!({"schemas": ["urn:example:Widget"], "colour": "red"});
        assert!(eval(r#"urn:example:Widget:colour eq "RED""#, &resource));
        assert!(!eval(r#"urn:example:Gadget:colour eq "red""#, &resource));
    }

    #[test]
    fn value_filter_asks_context_with_outer_name() {
        use std::cell::RefCell;
        type Question = (Option<String>, String, Option<String>);
        struct Recorder(RefCell<Vec<Question>>);
        impl EvalContext for Recorder {
            fn case_exact(&self, uri: Option<&str>, name: &str, sub: Option<&str>) -> bool {
                self.0.borrow_mut().push((
                    uri.map(str::to_owned),
                    name.to_owned(),
                    sub.map(str::to_owned),
                ));
                false
            }
        }
        let recorder = Recorder(RefCell::new(Vec::new()));
        let resource = json!({
            "emails": [{"value": "a"}],
            (ENTERPRISE): {"manager": [{"value": "m"}]}
        });
        let filter = parse(&format!(
            r#"emails[value eq "a"] and {ENTERPRISE}:manager[value eq "m"] and userName eq "x" and name.givenName eq "y""#
        ))
        .unwrap();
        assert!(!matches(&filter, &resource, &recorder));
        let asked = recorder.0.into_inner();
        let owned = |uri: Option<&str>, name: &str, sub: Option<&str>| {
            (
                uri.map(str::to_owned),
                name.to_owned(),
                sub.map(str::to_owned),
            )
        };
        assert_eq!(
            asked,
            vec![
                owned(None, "emails", Some("value")),
                owned(Some(ENTERPRISE), "manager", Some("value")),
                owned(None, "userName", None),
            ]
        );
    }

    #[test]
    fn odd_resource_shapes_never_panic() {
        let shapes = [
            Value::Null,
            json!(1),
            json!("text"),
            json!([1, {"emails": "x"}]),
            json!({}),
            json!({"emails": null}),
            json!({"emails": [null, 1, "x", [1], {"value": null}, {"type": null}]}),
            json!({"emails": {"value": ["a", {"value": "b"}]}}),
            json!({"name": "flat", "meta": [null], "schemas": "not-an-array"}),
            json!({(ENTERPRISE): "not an object", "x": [[[]]]}),
        ];
        let filters = [
            r#"emails eq "x""#,
            "emails eq 1",
            "emails pr",
            "emails.value pr",
            "emails[value pr]",
            r#"emails[type ne "work"]"#,
            r#"name.givenName eq "x""#,
            "meta.lastModified gt \"2011-01-01T00:00:00Z\"",
            "emails eq null",
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber ne "1""#,
            "x[y pr] or x.y pr or x eq null",
        ];
        for shape in &shapes {
            for filter in filters {
                let _ = eval(filter, shape);
            }
        }
        let messy = &shapes[6];
        assert!(eval(r#"emails eq "x""#, messy));
        assert!(eval("emails eq 1", messy));
        assert!(eval("emails pr", messy));
        assert!(!eval("emails.value pr", messy));
        assert!(!eval("emails[value pr]", messy));
        assert!(eval(r#"emails[type ne "work"]"#, messy));
        assert!(!eval("emails pr", &shapes[5]));
        assert!(eval("emails eq null", &Value::Null));
        assert!(eval(r#"emails ne "x""#, &json!("text")));
        assert!(eval(r#"emails.value eq "b""#, &shapes[7]));
    }

    // --- property tests ---

    const URIS: &[&str] = &[CORE_USER, ENTERPRISE, "urn:x-example:custom_1.2:Thing-3"];

    fn name_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            9 => "[a-zA-Z][a-zA-Z0-9_-]{0,10}",
            1 => Just("$ref".to_owned()),
        ]
    }

    fn attr_path_strategy() -> BoxedStrategy<AttrPath> {
        (
            prop::option::of(prop::sample::select(URIS)),
            name_strategy(),
            prop::option::of(name_strategy()),
        )
            .prop_map(|(uri, name, sub)| AttrPath {
                uri: uri.map(str::to_owned),
                name,
                sub,
            })
            .boxed()
    }

    fn comp_value_strategy() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            prop::collection::vec(any::<char>(), 0..16)
                .prop_map(|chars| CompValue::Str(chars.into_iter().collect())),
            r#"[\\"/a-z é😀\t\n\u{1}]{0,12}"#.prop_map(CompValue::Str),
            any::<i64>().prop_map(|n| CompValue::Num(n.into())),
            any::<u64>().prop_map(|n| CompValue::Num(n.into())),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Num)),
            any::<bool>().prop_map(CompValue::Bool),
            Just(CompValue::Null),
        ]
    }

    fn leaf_strategy(
        paths: impl Strategy<Value = AttrPath> + Clone + 'static,
        values: impl Strategy<Value = CompValue> + 'static,
    ) -> BoxedStrategy<Filter> {
        prop_oneof![
            3 => (paths.clone(), prop::sample::select(CompareOp::ALL.to_vec()), values)
                .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
            1 => paths.prop_map(Filter::Present),
        ]
        .boxed()
    }

    fn tree_strategy(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
                (inner.clone(), inner.clone())
                    .prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
        .boxed()
    }

    fn filter_strategy() -> BoxedStrategy<Filter> {
        let leaf = || leaf_strategy(attr_path_strategy(), comp_value_strategy());
        let value_path =
            (attr_path_strategy(), tree_strategy(leaf())).prop_map(|(path, f)| Filter::ValuePath {
                path,
                filter: Box::new(f),
            });
        tree_strategy(prop_oneof![3 => leaf(), 1 => value_path].boxed())
    }

    /// Filters over the attributes of [`user`], for the case-insensitivity property.
    fn user_filter_strategy() -> BoxedStrategy<Filter> {
        const PATHS: &[&str] = &[
            "userName",
            "name.givenName",
            "name.familyName",
            "name.middleName",
            "emails",
            "emails.value",
            "emails.type",
            "title",
            "nickName",
            "displayName",
            "active",
            "age",
            "score",
            "meta.lastModified",
            "tags",
            "id",
            "externalId",
            "missing",
            "schemas",
            "members.$ref",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        ];
        const INNER: &[&str] = &["value", "type", "primary", "$ref", "display"];
        const OUTER: &[&str] = &["emails", "ims", "members", "phoneNumbers"];
        let values = prop::sample::select(vec![
            text("bjensen@example.com"),
            text("BJENSEN"),
            text("example.com"),
            text("Work"),
            text("xmpp"),
            text("Barbara"),
            text("2011-05-13T04:42:34Z"),
            text("2819C223"),
            text("701984"),
            text("tour guide"),
            text(ENTERPRISE),
            num("42"),
            num("41.5"),
            CompValue::Bool(true),
            CompValue::Bool(false),
            CompValue::Null,
        ]);
        let top_paths = prop::sample::select(PATHS).prop_map(path);
        let inner_paths = prop::sample::select(INNER).prop_map(path);
        let value_path = (
            prop::sample::select(OUTER).prop_map(path),
            tree_strategy(leaf_strategy(inner_paths, values.clone())),
        )
            .prop_map(|(path, f)| Filter::ValuePath {
                path,
                filter: Box::new(f),
            });
        tree_strategy(prop_oneof![3 => leaf_strategy(top_paths, values), 1 => value_path].boxed())
    }

    /// Flips the case of ASCII letters outside string literals where `mask` says so.
    fn scramble_case(text: &str, mask: &[bool]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut in_string = false;
        let mut escaped = false;
        let mut flips = mask.iter().cycle();
        for c in text.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                out.push(c);
            } else if c == '"' {
                in_string = true;
                out.push(c);
            } else if c.is_ascii_alphabetic() && flips.next().copied().unwrap_or(false) {
                out.push(if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                });
            } else {
                out.push(c);
            }
        }
        out
    }

    #[derive(Debug, Clone, Copy)]
    enum Nesting {
        Parens,
        Nots,
        AndChain,
        OrChain,
        InValuePath,
        Mixed,
    }

    fn deep_input(kind: Nesting, depth: usize) -> String {
        match kind {
            Nesting::Parens => parens(depth),
            Nesting::Nots => nots(depth),
            Nesting::AndChain => chain(depth + 1, "and"),
            Nesting::OrChain => chain(depth + 1, "or"),
            Nesting::InValuePath => format!("emails[{}]", parens(depth)),
            Nesting::Mixed => {
                let open: String = (0..depth)
                    .map(|i| if i % 2 == 0 { "not (" } else { "(b pr and " })
                    .collect();
                format!("{open}a pr{}", ")".repeat(depth))
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = parse(&input);
            let _ = parse_patch_path(&input);
            let _ = AttrPath::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_filterish_text(input in r#"[a-zA-Z0-9 ()\[\]"\\.:$_\-+]{0,80}"#) {
            let _ = parse(&input);
            let _ = parse_patch_path(&input);
        }

        #[test]
        fn parse_never_panics_on_token_soup(tokens in prop::collection::vec(
            prop::sample::select(vec![
                "and", "OR", "not", "(", ")", "[", "]", "emails", "name.givenName", "pr", "eq",
                "Gt", "\"x\"", "\"\\u00e9\"", "\"\\ud800\"", "\"", "\\", "1", "-2.5e3", "true",
                "null", "urn:a:b:c", ".", "$ref", " ", "\t",
            ]),
            0..40,
        )) {
            let joined = tokens.join(" ");
            let packed = tokens.concat();
            for input in [&joined, &packed] {
                let _ = parse(input);
                let _ = parse_patch_path(input);
            }
        }

        #[test]
        fn rendering_round_trips(filter in filter_strategy()) {
            let rendered = filter.to_string();
            prop_assert_eq!(parse(&rendered), Ok(filter), "rendered: {}", rendered);
        }

        #[test]
        fn too_deep_input_is_rejected(
            kind in prop::sample::select(vec![
                Nesting::Parens, Nesting::Nots, Nesting::AndChain,
                Nesting::OrChain, Nesting::InValuePath, Nesting::Mixed,
            ]),
            depth in (MAX_DEPTH + 1)..3000,
        ) {
            let input = deep_input(kind, depth);
            prop_assert!(parse(&input).is_err());
            prop_assert!(Parser::new(&input).complete_filter().is_err());
        }

        #[test]
        fn case_of_names_and_keywords_does_not_matter(
            filter in user_filter_strategy(),
            mask in prop::collection::vec(any::<bool>(), 1..32),
        ) {
            let resource = user();
            let rendered = filter.to_string();
            let scrambled = scramble_case(&rendered, &mask);
            let reparsed = parse(&scrambled);
            prop_assert!(reparsed.is_ok(), "{} -> {:?}", scrambled, reparsed);
            if let Ok(reparsed) = reparsed {
                prop_assert_eq!(
                    matches(&reparsed, &resource, &CTX),
                    matches(&filter, &resource, &CTX),
                    "{} vs {}", rendered, scrambled
                );
            }
        }
    }
}
