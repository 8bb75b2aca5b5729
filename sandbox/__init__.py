"""Offline sandbox tenant: a stand-in for Entra ID, Microsoft Graph, the Exchange admin endpoint and SMTP.

Served on loopback over HTTPS so that MSAL and the collection talk to it exactly as they would to a
national cloud: custom endpoints plus a CA bundle. Not part of the Galaxy build.
"""
