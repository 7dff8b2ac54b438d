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

mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use serde_json::Number;

pub use eval::{EvalContext, matches};
use parse::Parser;

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

    pub fn is_ordering(self) -> bool {
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
