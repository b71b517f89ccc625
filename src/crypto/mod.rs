//! Olm accounts and sessions (vodozemac), and, with the identity issue, pickling and
//! wallet-signature checks.
//!
//! Secrets never leave this module unencrypted: live vodozemac types are not `Serialize`, and
//! the identity issue adds encrypted pickles for storage.

mod installation;
mod random;

pub use installation::{IdentityKeys, Installation};
pub use random::random_hex;
