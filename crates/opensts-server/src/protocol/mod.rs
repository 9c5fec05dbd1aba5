//! The wire protocol: awsQuery requests in, XML out.

pub mod query;
pub mod xml;

pub use query::{CharRule, Params, Violations};

pub const STS_VERSION: &str = "2011-06-15";
pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Which AWS API a request speaks, chosen by its `Version` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Sts,
    Iam,
}

impl Api {
    pub fn from_version(version: &str) -> Option<Api> {
        match version {
            STS_VERSION => Some(Api::Sts),
            IAM_VERSION => Some(Api::Iam),
            _ => None,
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Api::Sts => STS_NAMESPACE,
            Api::Iam => IAM_NAMESPACE,
        }
    }

    /// The service name in the SigV4 credential scope.
    pub fn signing_service(self) -> &'static str {
        match self {
            Api::Sts => "sts",
            Api::Iam => "iam",
        }
    }

    /// The service prefix of IAM action names (`sts:AssumeRole`, `iam:CreateUser`).
    pub fn action_prefix(self) -> &'static str {
        self.signing_service()
    }
}
