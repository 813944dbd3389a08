from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.permissions import ROLE_LABELS, ROLES
from app.services.users import MIN_PASSWORD_LENGTH

ROLE_CHOICES = [SelectChoice(value=role, label=ROLE_LABELS[role]) for role in ROLES]


class CreateUserForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(message="Enter an e-mail address."), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        "Password", validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, message=f"At least {MIN_PASSWORD_LENGTH} characters.")],
        description="Leave empty to generate one; it is shown once.",
    )


class ChangeRoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
