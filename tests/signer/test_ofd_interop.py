"""An independent reader checks eseal's OFD seals: a small Java program, written here the way
ofdrw's ``OFDValidator`` works (the JDK's XML parser, Bouncy Castle's SM3 looked up by the
``CheckMethod`` string, paths resolved as ofdrw's ``ResourceLocator`` does), checks every
reference of every signature, that each ``StampAnnot`` is on a page of the document, and that
``Seal.esl`` is the seal inside ``SignedValue.dat``.  It shares no code with eseal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ses_pki import make_world

from helpers import require_tool, unavailable
from ofds import SesSealer, simple_ofd, unzip_ofd, zip_ofd
from signer.ofd.placement import AtKeyword, CrossPage
from signer.ofd.seal import seal_ofd

pytestmark = pytest.mark.slow

BCPROV = Path(os.environ.get("BCPROV_JAR", "/usr/share/java/bcprov.jar"))

SOURCE = r"""
import java.nio.file.*;
import java.security.*;
import java.util.*;
import javax.xml.parsers.*;
import org.w3c.dom.*;
import org.bouncycastle.asn1.*;

public class OfdCheck {
    static final String NS = "http://www.ofdspec.org/2016";
    static Path root;
    static boolean ok = true;

    static void fail(String message) {
        System.out.println(message);
        ok = false;
    }
    static Path file(String loc) {
        return root.resolve(loc.substring(1));
    }
    static Element parse(String loc) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(file(loc).toFile()).getDocumentElement();
    }
    // absolute from the root, else relative to the directory of the referring file
    static String resolve(String loc, String base) {
        loc = loc.trim();
        Deque<String> parts = new ArrayDeque<>();
        if (!loc.startsWith("/")) {
            String[] b = base.split("/");
            for (int i = 0; i < b.length - 1; i++) {
                if (!b[i].isEmpty()) parts.addLast(b[i]);
            }
        }
        for (String p : loc.split("/")) {
            if (p.isEmpty() || p.equals(".")) continue;
            if (p.equals("..")) parts.removeLast();
            else parts.addLast(p);
        }
        return "/" + String.join("/", parts);
    }
    static List<Element> all(Element e, String name) {
        List<Element> out = new ArrayList<>();
        NodeList l = e.getElementsByTagNameNS(NS, name);
        for (int i = 0; i < l.getLength(); i++) out.add((Element) l.item(i));
        return out;
    }
    static String text(Element e, String name) {
        return all(e, name).get(0).getTextContent().trim();
    }
    static byte[] read(String loc) throws Exception {
        return Files.readAllBytes(file(loc));
    }

    public static void main(String[] args) throws Exception {
        root = Paths.get(args[0]);
        Provider bc = new org.bouncycastle.jce.provider.BouncyCastleProvider();
        Element ofd = parse("/OFD.xml");
        String docRoot = resolve(text(ofd, "DocRoot"), "/OFD.xml");
        Set<String> pageIds = new HashSet<>();
        for (Element p : all(all(parse(docRoot), "Pages").get(0), "Page")) {
            pageIds.add(p.getAttribute("ID"));
        }
        String listLoc = resolve(text(ofd, "Signatures"), "/OFD.xml");
        for (Element entry : all(parse(listLoc), "Signature")) {
            String sigLoc = resolve(entry.getAttribute("BaseLoc"), listLoc);
            Element sig = parse(sigLoc);
            Element refs = all(sig, "References").get(0);
            MessageDigest md = MessageDigest.getInstance(refs.getAttribute("CheckMethod"), bc);
            int count = 0;
            for (Element ref : all(refs, "Reference")) {
                String loc = resolve(ref.getAttribute("FileRef"), sigLoc);
                byte[] expected = Base64.getDecoder().decode(text(ref, "CheckValue"));
                count++;
                if (!Files.exists(file(loc))) fail("missing " + loc);
                else if (!Arrays.equals(expected, md.digest(read(loc)))) fail("changed " + loc);
            }
            for (Element stamp : all(sig, "StampAnnot")) {
                String page = stamp.getAttribute("PageRef");
                if (!pageIds.contains(page)) fail("stamp on no page " + page);
            }
            byte[] value = read(resolve(text(sig, "SignedValue"), sigLoc));
            ASN1Sequence ses = ASN1Sequence.getInstance(value);
            ASN1Sequence toSign = ASN1Sequence.getInstance(ses.getObjectAt(0));
            byte[] eseal = toSign.getObjectAt(1).toASN1Primitive().getEncoded(ASN1Encoding.DER);
            String sealLoc = resolve(text(all(sig, "Seal").get(0), "BaseLoc"), sigLoc);
            if (!Arrays.equals(eseal, read(sealLoc))) fail("seal mismatch " + sigLoc);
            System.out.println("signature " + entry.getAttribute("ID") + " references " + count);
        }
        System.exit(ok ? 0 : 1);
    }
}
"""

Runner = Callable[[bytes, Path], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def ofd_check(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    require_tool("javac", "java")
    if not BCPROV.is_file():
        unavailable(f"Bouncy Castle jar {BCPROV} not found (Debian: libbcprov-java)")
    classes = tmp_path_factory.mktemp("ofdcheck")
    source = classes / "OfdCheck.java"
    source.write_text(SOURCE, encoding="utf-8")
    subprocess.run(
        ["javac", "-cp", str(BCPROV), "-d", str(classes), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )

    def run(data: bytes, where: Path) -> subprocess.CompletedProcess[str]:
        for name, content in unzip_ofd(data).items():
            target = where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        classpath = f"{classes}{os.pathsep}{BCPROV}"
        return subprocess.run(
            ["java", "-cp", classpath, "OfdCheck", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def sealed_twice(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    ses = SesSealer.make(make_world(tmp_path_factory.mktemp("ofd-interop-world")))
    now = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    once = seal_ofd(
        simple_ofd(3),
        seal_esl=ses.seal_esl,
        sign_ses=ses.sign,
        placement=AtKeyword("甲方（盖章）", page=3),
        width_mm=40,
        height_mm=40,
        now=now,
    )
    return seal_ofd(
        once,
        seal_esl=ses.seal_esl,
        sign_ses=ses.sign,
        placement=CrossPage(),
        width_mm=40,
        height_mm=40,
        now=now,
    )


def test_an_ofdrw_style_reader_accepts_both_seals(
    ofd_check: Runner, sealed_twice: bytes, tmp_path: Path
) -> None:
    done = ofd_check(sealed_twice, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "signature s001 references 7",  # OFD.xml, Document, PublicRes, 3 pages, Seal.esl
        "signature s003 references 10",  # and the first seal's three files
    ]


def test_the_same_reader_sees_a_changed_page(
    ofd_check: Runner, sealed_twice: bytes, tmp_path: Path
) -> None:
    files = unzip_ofd(sealed_twice)
    name = "Doc_0/Pages/Page_0/Content.xml"
    files[name] = files[name].replace("北京".encode(), "南京".encode())
    done = ofd_check(zip_ofd(files), tmp_path)
    assert done.returncode == 1
    assert done.stdout.count(f"changed /{name}") == 2
