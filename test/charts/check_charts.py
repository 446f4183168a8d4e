"""test/charts/check_charts.py: independent checks of crm's SVG charts, for
test/t/600_charts_report.pl.

  check_charts.py svg FILE...     every file holds one chart; each must parse
                                  with xml.etree as an SVG 1.1 document with a
                                  <title>, and hold no script, foreign object,
                                  external reference or web font
  check_charts.py html FILE N     the HTML report holds N such charts
  check_charts.py png FILE BAND   the rendered report is not blank, shows the
                                  forecast band's colour BAND (#rrggbb) and
                                  text (dark grey strokes), and the charts'
                                  first palette colour

Prints one line per check and exits non-zero at the first failure.
"""
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def fail(message):
    print("FAIL " + message)
    sys.exit(1)


def check_svg(text, name):
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        fail(f"{name}: not well-formed XML: {e}")
    if root.tag != SVG + "svg" or root.get("version") != "1.1":
        fail(f"{name}: root is {root.tag} version {root.get('version')}, not SVG 1.1")
    if root.find(SVG + "title") is None or not (root.find(SVG + "title").text or "").strip():
        fail(f"{name}: no <title>")
    for element in root.iter():
        tag = element.tag.replace(SVG, "")
        if tag in ("script", "foreignObject", "image", "use", "style", "a"):
            fail(f"{name}: has a <{tag}> element")
        for key, value in element.attrib.items():
            if "href" in key or key.startswith("on") or "url(" in value:
                fail(f"{name}: external reference or handler {key}={value!r}")
    if "@font-face" in text or "@import" in text:
        fail(f"{name}: loads a font or stylesheet")
    width, height = int(root.get("width")), int(root.get("height"))
    texts = [t.text for t in root.iter(SVG + "text") if t.text]
    print(f"ok {name}: SVG 1.1, {width}x{height}, {len(list(root.iter()))} elements, {len(texts)} texts")
    return root


def svg_files(paths):
    for path in paths:
        check_svg(open(path, encoding="utf-8").read(), path)


def html_report(path, expected):
    html = open(path, encoding="utf-8").read()
    charts = re.findall(r"<svg\b.*?</svg>", html, re.S)
    if len(charts) != expected:
        fail(f"{path}: {len(charts)} charts, expected {expected}")
    for i, chart in enumerate(charts, 1):
        check_svg(chart, f"{path} chart {i}")
    print(f"ok {path}: {len(charts)} charts")


def png(path, band):
    from PIL import Image

    image = Image.open(path).convert("RGB")
    width, height = image.size
    pixels = list(image.getdata())
    want = tuple(int(band[i:i + 2], 16) for i in (1, 3, 5))
    near = lambda p, c, d: all(abs(p[k] - c[k]) <= d for k in range(3))
    total = len(pixels)
    colours = len(set(pixels))
    not_background = sum(1 for p in pixels if not near(p, (255, 255, 255), 6) and not near(p, (244, 245, 247), 4))
    band_pixels = sum(1 for p in pixels if near(p, want, 6))
    palette_pixels = sum(1 for p in pixels if near(p, (0x4E, 0x79, 0xA7), 8))
    dark_text = sum(1 for p in pixels if max(p) < 110 and max(p) - min(p) < 24)
    print(f"ok {path}: {width}x{height}, {colours} colours, {not_background / total:.1%} drawn, "
          f"{band_pixels} band pixels, {palette_pixels} palette pixels, {dark_text} dark text pixels")
    if colours < 50 or not_background < total * 0.05:
        fail(f"{path}: looks blank ({colours} colours, {not_background} drawn pixels)")
    if band_pixels < 300:
        fail(f"{path}: the forecast band colour {band} is (almost) absent: {band_pixels} pixels")
    if palette_pixels < 1000:
        fail(f"{path}: the first palette colour is (almost) absent: {palette_pixels} pixels")
    if dark_text < 2000:
        fail(f"{path}: too little text: {dark_text} dark pixels")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "svg":
        svg_files(sys.argv[2:])
    elif mode == "html":
        html_report(sys.argv[2], int(sys.argv[3]))
    elif mode == "png":
        png(sys.argv[2], sys.argv[3])
    else:
        fail(f"unknown mode {mode}")
