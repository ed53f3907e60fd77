//! SSH private keys (`sshPrivateKey`), deprecated in Kargo. Git's credential protocol carries
//! no keys, so the helpers cannot use them; `kargo-creds get -o ssh-key` prints the key.

use super::{ProviderError, Selection};
use crate::secret::{keys, Secret};
use crate::sensitive::Sensitive;

pub fn select(secret: &Secret) -> Result<Option<Selection>, ProviderError> {
    let Some(key) = secret.text(keys::SSH_PRIVATE_KEY)? else {
        return Ok(None);
    };
    if key.is_empty() {
        return Ok(Some(Selection::Declined {
            provider: super::ProviderKind::Ssh,
            reason: format!("secret {} has an empty sshPrivateKey", secret.id()),
        }));
    }
    Ok(Some(Selection::SshKey {
        key: Sensitive::from(key),
    }))
}
