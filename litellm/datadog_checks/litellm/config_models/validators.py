# Here you can include additional config validators or transformers
#
# def initialize_instance(values, **kwargs):
#     if 'my_option' not in values and 'my_legacy_option' in values:
#         values['my_option'] = values['my_legacy_option']
#     if values.get('my_number') > 10:
#         raise ValueError('my_number max value is 10, got %s' % str(values.get('my_number')))
#
#     return values
from types import SimpleNamespace

from datadog_checks.base.utils.models import validation

if not hasattr(validation, 'security'):
    # Generated models call `validation.security` on file-path options (tls_ca_cert, auth_token, ...); older bases
    # (that of Agent 7.68 among them) predate it and enforce no file-path policy, so there it has nothing to check.
    validation.security = SimpleNamespace(check_field_trusted_provider=lambda field_name, value, security_config: None)
