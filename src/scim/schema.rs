//! The SCIM schemas this server implements (RFC 7643 sections 4, 8.7), as data.
//!
//! Everything that needs to know an attribute's type, mutability, `returned`
//! or `caseExact` asks here: resource normalisation, PATCH, filters, sorting,
//! projection, and the `/Schemas` discovery document, which is rendered from
//! these same tables so that discovery can never disagree with behaviour.
//! Pure data and lookups; no I/O.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 section 7).
#[derive(Debug, Clone, Copy)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttributeDef],
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: AttrType, description: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        kind,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> AttributeDef {
    attr(name, AttrType::String, description)
}

impl AttributeDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, v: &'static [&'static str]) -> Self {
        self.canonical_values = v;
        self
    }
    const fn refs(mut self, r: &'static [&'static str]) -> Self {
        self.reference_types = r;
        self
    }
    const fn subs(mut self, s: &'static [AttributeDef]) -> Self {
        self.sub_attributes = s;
        self
    }

    /// A sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.kind == AttrType::Complex
    }

    /// Rendered as in RFC 7643 section 7 (`/Schemas`).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind.as_str(),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability.as_str(),
            "returned": self.returned.as_str(),
        });
        if let Some(o) = v.as_object_mut() {
            if !self.is_complex() {
                o.insert("caseExact".into(), json!(self.case_exact));
                o.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
            }
            if !self.canonical_values.is_empty() {
                o.insert("canonicalValues".into(), json!(self.canonical_values));
            }
            if !self.reference_types.is_empty() {
                o.insert("referenceTypes".into(), json!(self.reference_types));
            }
            if self.is_complex() {
                let subs: Vec<Value> = self.sub_attributes.iter().map(Self::to_json).collect();
                o.insert("subAttributes".into(), Value::Array(subs));
            }
        }
        v
    }
}

/// A schema: a URN and its attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            }
        })
    }
}

use AttrType::{Binary, Boolean, Complex, DateTime, Reference};
use Mutability::{Immutable, ReadOnly, WriteOnly};
use Returned::{Always, Never};

const fn display() -> AttributeDef {
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
}
const fn kind(values: &'static [&'static str]) -> AttributeDef {
    string("type", "A label indicating the attribute's function.").canonical(values)
}
const fn primary() -> AttributeDef {
    attr(
        "primary",
        Boolean,
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
    )
}

static NAME_SUBS: [AttributeDef; 6] = [
    string(
        "formatted",
        "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display.",
    ),
    string("familyName", "The family name of the User, or last name."),
    string("givenName", "The given name of the User, or first name."),
    string("middleName", "The middle name(s) of the User."),
    string(
        "honorificPrefix",
        "The honorific prefix(es) of the User, or title.",
    ),
    string(
        "honorificSuffix",
        "The honorific suffix(es) of the User, or suffix.",
    ),
];
static EMAIL_SUBS: [AttributeDef; 4] = [
    string("value", "Email address for the User."),
    display(),
    kind(&["work", "home", "other"]),
    primary(),
];
static PHONE_SUBS: [AttributeDef; 4] = [
    string("value", "Phone number of the User."),
    display(),
    kind(&["work", "home", "mobile", "fax", "pager", "other"]),
    primary(),
];
static IM_SUBS: [AttributeDef; 4] = [
    string("value", "Instant messaging address for the User."),
    display(),
    kind(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    primary(),
];
static PHOTO_SUBS: [AttributeDef; 4] = [
    attr("value", Reference, "URL of a photo of the User.").refs(&["external"]),
    display(),
    kind(&["photo", "thumbnail"]),
    primary(),
];
static ADDRESS_SUBS: [AttributeDef; 8] = [
    string(
        "formatted",
        "The full mailing address, formatted for display or use with a mailing label.",
    ),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    kind(&["work", "home", "other"]),
    primary(),
];
static USER_GROUP_SUBS: [AttributeDef; 4] = [
    string("value", "The identifier of the User's group.").mutability(ReadOnly),
    attr(
        "$ref",
        Reference,
        "The URI of the corresponding 'Group' resource.",
    )
    .refs(&["User", "Group"])
    .mutability(ReadOnly),
    display().mutability(ReadOnly),
    kind(&["direct", "indirect"]).mutability(ReadOnly),
];
static ENTITLEMENT_SUBS: [AttributeDef; 4] = [
    string("value", "The value of an entitlement."),
    display(),
    string("type", "A label indicating the attribute's function."),
    primary(),
];
static ROLE_SUBS: [AttributeDef; 4] = [
    string("value", "The value of a role."),
    display(),
    string("type", "A label indicating the attribute's function."),
    primary(),
];
static X509_SUBS: [AttributeDef; 4] = [
    attr("value", Binary, "The value of an X.509 certificate."),
    display(),
    string("type", "A label indicating the attribute's function."),
    primary(),
];

/// The core User schema, RFC 7643 section 4.1 (common attributes are not listed,
/// as the RFC's own schema representation does not list them).
pub static USER: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &[
        string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.")
            .required()
            .unique(),
        attr("name", Complex, "The components of the user's real name.").subs(&NAME_SUBS),
        string("displayName", "The name of the User, suitable for display to end-users."),
        string("nickName", "The casual way to address the user in real life."),
        attr("profileUrl", Reference, "A fully qualified URL pointing to a page representing the User's online profile.")
            .refs(&["external"]),
        string("title", "The user's title, such as \"Vice President.\""),
        string("userType", "Used to identify the relationship between the organization and the user."),
        string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
        string("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
        string("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
        attr("active", Boolean, "A Boolean value indicating the User's administrative status."),
        string("password", "The User's cleartext password. Accepted on write, never stored, never returned.")
            .mutability(WriteOnly)
            .returned(Never),
        attr("emails", Complex, "Email addresses for the user.").multi().subs(&EMAIL_SUBS),
        attr("phoneNumbers", Complex, "Phone numbers for the User.").multi().subs(&PHONE_SUBS),
        attr("ims", Complex, "Instant messaging addresses for the User.").multi().subs(&IM_SUBS),
        attr("photos", Complex, "URLs of photos of the User.").multi().subs(&PHOTO_SUBS),
        attr("addresses", Complex, "A physical mailing address for this User.").multi().subs(&ADDRESS_SUBS),
        attr("groups", Complex, "A list of groups to which the user belongs, derived from Group membership.")
            .multi()
            .mutability(ReadOnly)
            .subs(&USER_GROUP_SUBS),
        attr("entitlements", Complex, "A list of entitlements for the User.").multi().subs(&ENTITLEMENT_SUBS),
        attr("roles", Complex, "A list of roles for the User.").multi().subs(&ROLE_SUBS),
        attr("x509Certificates", Complex, "A list of certificates issued to the User.").multi().subs(&X509_SUBS),
    ],
};

static MANAGER_SUBS: [AttributeDef; 3] = [
    string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    attr(
        "$ref",
        Reference,
        "The URI of the SCIM resource representing the User's manager.",
    )
    .refs(&["User"]),
    string("displayName", "The displayName of the User's manager.").mutability(ReadOnly),
];

/// The enterprise User extension, RFC 7643 section 4.3.
pub static ENTERPRISE_USER: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        attr("manager", Complex, "The User's manager.").subs(&MANAGER_SUBS),
    ],
};

static MEMBER_SUBS: [AttributeDef; 4] = [
    string("value", "Identifier of the member of this Group.")
        .case_exact()
        .mutability(Immutable),
    attr(
        "$ref",
        Reference,
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )
    .refs(&["User", "Group"])
    .mutability(Immutable),
    string("display", "A human-readable name of the member.").mutability(ReadOnly),
    string(
        "type",
        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
    )
    .canonical(&["User", "Group"])
    .mutability(Immutable),
];

/// The core Group schema, RFC 7643 section 4.2. `displayName` is unique here
/// (case-insensitively): mappings name groups by it.
pub static GROUP: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &[
        string(
            "displayName",
            "A human-readable name for the Group. Unique, compared case-insensitively.",
        )
        .required()
        .unique(),
        attr("members", Complex, "A list of members of the Group.")
            .multi()
            .subs(&MEMBER_SUBS),
    ],
};

static META_SUBS: [AttributeDef; 5] = [
    string(
        "resourceType",
        "The name of the resource type of the resource.",
    )
    .case_exact()
    .mutability(ReadOnly),
    attr(
        "created",
        DateTime,
        "The DateTime that the resource was added to the service provider.",
    )
    .mutability(ReadOnly),
    attr(
        "lastModified",
        DateTime,
        "The most recent DateTime that the details of this resource were updated.",
    )
    .mutability(ReadOnly),
    attr(
        "location",
        Reference,
        "The URI of the resource being returned.",
    )
    .case_exact()
    .mutability(ReadOnly),
    string("version", "The version of the resource being returned.")
        .case_exact()
        .mutability(ReadOnly),
];

/// The common attributes of every resource (RFC 7643 section 3.1).
pub static COMMON: [AttributeDef; 3] = [
    string(
        "id",
        "A unique identifier for a SCIM resource as defined by the service provider.",
    )
    .case_exact()
    .mutability(ReadOnly)
    .returned(Always)
    .unique(),
    string(
        "externalId",
        "A String that is an identifier for the resource as defined by the provisioning client.",
    )
    .case_exact(),
    attr(
        "meta",
        Complex,
        "A complex attribute containing resource metadata.",
    )
    .mutability(ReadOnly)
    .subs(&META_SUBS),
];

/// A resource type this server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    pub fn core(self) -> &'static SchemaDef {
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
        }
    }

    /// The schema extensions this resource type accepts: (schema, required).
    pub fn extensions(self) -> &'static [(&'static SchemaDef, bool)] {
        static USER_EXTENSIONS: [(&SchemaDef, bool); 1] = [(&ENTERPRISE_USER, false)];
        match self {
            Self::User => &USER_EXTENSIONS,
            Self::Group => &[],
        }
    }

    /// A registered extension by URN, case-insensitively.
    pub fn extension(self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions()
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Look an attribute up by optional schema URN and name.
    /// Without a URN the common attributes and the core schema are searched.
    pub fn attribute(self, uri: Option<&str>, name: &str) -> Option<&'static AttributeDef> {
        match uri {
            Some(u) if u.eq_ignore_ascii_case(self.core().id) => self.core_attribute(name),
            Some(u) => self.extension(u)?.attribute(name),
            None => self.core_attribute(name),
        }
    }

    fn core_attribute(self, name: &str) -> Option<&'static AttributeDef> {
        COMMON
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| self.core().attribute(name))
    }

    pub fn resource_type_json(self, base_url: &str) -> Value {
        let extensions: Vec<Value> = self
            .extensions()
            .iter()
            .map(|(s, required)| json!({"schema": s.id, "required": required}))
            .collect();
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name(),
            "name": self.name(),
            "endpoint": self.endpoint(),
            "description": match self { Self::User => "User Account", Self::Group => "Group" },
            "schema": self.core().id,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{}", self.name()),
            }
        })
    }
}

pub const ALL_KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// Every schema published at `/Schemas`.
pub fn all_schemas() -> [&'static SchemaDef; 3] {
    [&USER, &GROUP, &ENTERPRISE_USER]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive() {
        let k = ResourceKind::User;
        assert_eq!(
            k.attribute(None, "USERNAME").map(|a| a.name),
            Some("userName")
        );
        assert_eq!(k.attribute(None, "id").map(|a| a.name), Some("id"));
        assert_eq!(
            k.attribute(Some(ENTERPRISE_USER_SCHEMA), "employeenumber")
                .map(|a| a.name),
            Some("employeeNumber")
        );
        assert_eq!(
            k.attribute(Some(USER_SCHEMA), "emails")
                .and_then(|a| a.sub("VALUE"))
                .map(|a| a.name),
            Some("value")
        );
        assert!(k.attribute(None, "members").is_none());
        assert!(ResourceKind::Group.attribute(None, "members").is_some());
    }

    #[test]
    fn discovery_tells_the_truth_about_characteristics() {
        let users = USER.to_json("http://x/scim/v2");
        let attrs = users["attributes"].as_array().expect("attributes");
        let user_name = attrs
            .iter()
            .find(|a| a["name"] == "userName")
            .expect("userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        let password = attrs
            .iter()
            .find(|a| a["name"] == "password")
            .expect("password");
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        let groups = attrs
            .iter()
            .find(|a| a["name"] == "groups")
            .expect("groups");
        assert_eq!(groups["mutability"], "readOnly");
        assert_eq!(groups["subAttributes"].as_array().map(Vec::len), Some(4));
    }
}
