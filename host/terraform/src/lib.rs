//! Serves a Roster provider component to Terraform and OpenTofu.
#![deny(missing_docs)]

pub mod lifecycle;
pub mod schema;
pub mod value;

/// The protocol's generated types and services.
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub(crate) mod proto {
    pub(crate) mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub(crate) mod plugin {
        tonic::include_proto!("plugin");
    }
    pub(crate) mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}
