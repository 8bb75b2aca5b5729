"""The few HTML pages of the sandbox's sign-in service: a sign-in form for the authorization
endpoint, the device login page, and error pages. Plain forms, usable with a browser or curl."""
import html

from ..web import Response

STYLE = "font-family:sans-serif;max-width:40em;margin:3em auto"


def html_page(title, body_html, status=200):
    page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s</title></head>"
            "<body style=\"%s\"><h1>%s</h1>%s</body></html>"
            % (html.escape(title), STYLE, html.escape(title), body_html))
    return Response(status, page, {"Cache-Control": "no-store", "Pragma": "no-cache"}, "text/html; charset=utf-8")


def form_page(title, action, fields, hidden=None, message=None, intro=None, status=200):
    """`fields`: (name, label, type, value) rows; `hidden`: values carried through the form unchanged."""
    parts = []
    if intro:
        parts.append("<p>%s</p>" % html.escape(intro))
    if message:
        parts.append("<p id=\"error\" style=\"color:#a00\">%s</p>" % html.escape(message))
    parts.append("<form method=\"post\" action=\"%s\">" % html.escape(action))
    for name, value in sorted((hidden or {}).items()):
        parts.append("<input type=\"hidden\" name=\"%s\" value=\"%s\">" % (html.escape(name), html.escape(value)))
    for name, label, kind, value in fields:
        parts.append("<p><label>%s<br><input name=\"%s\" type=\"%s\" value=\"%s\"></label></p>"
                     % (html.escape(label), html.escape(name), kind, html.escape(value or "")))
    parts.append("<p><button type=\"submit\">Next</button></p></form>")
    return html_page(title, "".join(parts), status)


def auto_post_page(action, values):
    """response_mode=form_post: the browser posts the answer to the application."""
    inputs = "".join("<input type=\"hidden\" name=\"%s\" value=\"%s\">" % (html.escape(k), html.escape(v))
                     for k, v in values.items())
    return html_page("Working...", "<form method=\"post\" name=\"hiddenform\" action=\"%s\">%s"
                                   "<noscript><button type=\"submit\">Continue</button></noscript></form>"
                                   "<script>document.forms[0].submit()</script>" % (html.escape(action), inputs))
