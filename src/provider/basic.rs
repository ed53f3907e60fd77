//! Static username and password (SPEC §6.2): any credential type. Also serves ACR tokens,
//! GitLab/Bitbucket tokens, Docker Hub tokens and GAR `_json_key_base64`.

use super::{Credentials, ProviderError, ProviderKind, Selection};
use crate::secret::{keys, Secret};
use crate::sensitive::Sensitive;

/// Takes a Secret holding both `username` and `password` keys. Either one empty: the
/// provider declines, and (as in Kargo) no other provider is tried.
pub fn select(secret: &Secret) -> Result<Option<Selection>, ProviderError> {
    if !(secret.has_key(keys::USERNAME) && secret.has_key(keys::PASSWORD)) {
        return Ok(None);
    }
    let username = secret.emittable_text(keys::USERNAME)?.unwrap_or_default();
    let password = secret.emittable_text(keys::PASSWORD)?.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        let empty = if username.is_empty() {
            "username"
        } else {
            "password"
        };
        return Ok(Some(Selection::Declined {
            provider: ProviderKind::Basic,
            reason: format!("secret {} has an empty {empty}", secret.id()),
        }));
    }
    Ok(Some(Selection::Static {
        provider: ProviderKind::Basic,
        credentials: Credentials {
            username: username.to_owned(),
            password: Sensitive::from(password),
            expires_at: None,
        },
    }))
}
