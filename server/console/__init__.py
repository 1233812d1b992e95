"""The clerk console: server-rendered pages for township clerks and county admins."""
