"""The ruhu tablet app. Everything outside ``kivy_client.ui`` runs without Kivy (headless)."""

APP_VERSION = "0.1.0"
