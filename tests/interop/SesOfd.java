// OFD sealing (GB/T 33190-2016 section 18) as ofdrw's OFDSigner lays it out, for SesCheck.
//
// Signing adds, for the first document of the package (OFD.xml's first DocBody):
//   - Doc_0/Signs/Signatures.xml, registered in DocBody/Signatures when it is new; otherwise the
//     existing list gets one more <Signature ID Type="Seal" BaseLoc>, and MaxSignId the last ID
//     handed out (IDs "sNNN": the signature's, then its StampAnnot's, as ofdrw numbers them);
//   - Sign_N/ (N one more than the largest Sign_ directory there, from 0) with Seal.esl (the seal
//     as given), Signature.xml and SignedValue.dat.
// Signature.xml: SignedInfo { Provider, SignatureMethod 1.2.156.10197.1.501, SignatureDateTime
// (yyyy-MM-dd HH:mm:ss, China time, as ofdrw writes the JVM's local time), References
// CheckMethod="SM3" with one Reference FileRef="/path" and a base64 SM3 CheckValue per file of
// the package, StampAnnot { ID, PageRef = the page's ID in Document.xml, Boundary "x y w h" in
// mm }, Seal { BaseLoc } }, SignedValue. Every file of the package is protected but this
// signature's own Signature.xml and SignedValue.dat (not yet written when the digests are taken)
// and Signatures.xml, which later signatures change (ofdrw's "continue" mode); Seal.esl is
// protected, as ofdrw writes it before the digests. With --protect-signatures, Signatures.xml
// is protected too (ofdrw's whole-document mode): then no later signature can be added, and a
// document in that state is refused here as by ofdrw. SignedValue.dat is an SES_Signature whose
// dataHash is SM3 over the bytes of Signature.xml and whose propertyInfo is Signature.xml's
// absolute path (ofdrw's SESV4Container / SESV5Container).
//
// Verifying reports, per signature: each reference ok, changed or missing; package files no
// reference covers; that Seal.esl is the seal inside SignedValue.dat (ofdrw's checkSealMatch);
// and the SignedValue checked as verify-signature does, over Signature.xml.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.text.SimpleDateFormat;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Date;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

final class SesOfd {
    private SesOfd() {}

    static final String NS = "http://www.ofdspec.org/2016";
    static final String PROVIDER = "eseal-interop-bc";
    static final Pattern SIGN_ID = Pattern.compile("^s?(\\d+)$");
    static final Pattern SIGN_DIR = Pattern.compile("^Sign_(\\d+)/");

    /** The package is not one this tool can seal or read, or sealing it is not allowed. */
    static final class Refused extends Exception {
        Refused(String message) {
            super(message);
        }
    }

    // -- the package ---------------------------------------------------------------------

    /** The files of the zip, in order, by name without a leading slash. */
    static LinkedHashMap<String, byte[]> read(Path path) throws IOException, Refused {
        LinkedHashMap<String, byte[]> entries = new LinkedHashMap<>();
        try (InputStream file = Files.newInputStream(path); ZipInputStream zip = new ZipInputStream(file)) {
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                String name = entry.getName();
                if (entry.isDirectory()) {
                    continue;
                }
                if (name.startsWith("/") || name.contains("\\") || Arrays.asList(name.split("/")).contains("..")) {
                    throw new Refused("a package entry with a path that leaves the package: " + name);
                }
                if (entries.put(name, zip.readAllBytes()) != null) {
                    throw new Refused("the package names " + name + " twice");
                }
            }
        } catch (java.util.zip.ZipException e) {
            throw new Refused("not a zip package: " + e.getMessage());
        }
        if (entries.isEmpty()) {
            throw new Refused("not an OFD package: no files");
        }
        return entries;
    }

    static void write(Path path, Map<String, byte[]> entries) throws IOException {
        try (OutputStream file = Files.newOutputStream(path); ZipOutputStream zip = new ZipOutputStream(file)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                zip.putNextEntry(new ZipEntry(e.getKey()));
                zip.write(e.getValue());
                zip.closeEntry();
            }
        }
    }

    static String dir(String name) {
        int slash = name.lastIndexOf('/');
        return slash < 0 ? "" : name.substring(0, slash);
    }

    /** An ST_Loc: absolute from the package root, or relative to {@code base} (a directory). */
    static String resolve(String base, String loc) throws Refused {
        String text = loc.trim();
        String joined = text.startsWith("/") ? text.substring(1) : (base.isEmpty() ? text : base + "/" + text);
        Deque<String> parts = new ArrayDeque<>();
        for (String part : joined.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (parts.isEmpty()) {
                    throw new Refused("the location " + loc + " leaves the package");
                }
                parts.removeLast();
            } else {
                parts.addLast(part);
            }
        }
        return String.join("/", parts);
    }

    static Document xml(byte[] data, String what) throws Refused {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            return builder.parse(new ByteArrayInputStream(data));
        } catch (Exception e) {
            throw new Refused(what + " is not well-formed XML: " + e.getMessage());
        }
    }

    static byte[] serialize(Document doc) throws Exception {
        doc.setXmlStandalone(true);
        Transformer t = TransformerFactory.newInstance().newTransformer();
        t.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        t.transform(new DOMSource(doc), new StreamResult(out));
        return out.toByteArray();
    }

    static List<Element> children(Element parent, String localName) {
        List<Element> found = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && localName.equals(e.getLocalName())) {
                found.add(e);
            }
        }
        return found;
    }

    static Element child(Element parent, String localName) {
        List<Element> found = children(parent, localName);
        return found.isEmpty() ? null : found.get(0);
    }

    static String text(Element parent, String localName) {
        Element e = child(parent, localName);
        return e == null ? null : e.getTextContent().trim();
    }

    /** A new element in the OFD namespace, with the prefix {@code like} uses. */
    static Element element(Document doc, Element like, String localName) {
        String prefix = like.getPrefix();
        return doc.createElementNS(NS, prefix == null ? localName : prefix + ":" + localName);
    }

    static byte[] need(Map<String, byte[]> entries, String name, String what) throws Refused {
        byte[] data = entries.get(name);
        if (data == null) {
            throw new Refused(what + " /" + name + " is not in the package");
        }
        return data;
    }

    /** What the package's first document is made of. */
    static final class Layout {
        Document ofd;
        Element docBody;
        String docRoot;            // e.g. Doc_0/Document.xml
        Document document;
        List<String[]> pages = new ArrayList<>();   // {ID, BaseLoc}
        String signaturesPath;     // e.g. Doc_0/Signs/Signatures.xml, or null

        static Layout of(Map<String, byte[]> entries) throws Refused {
            Layout l = new Layout();
            l.ofd = xml(need(entries, "OFD.xml", "the entry file"), "OFD.xml");
            l.docBody = child(l.ofd.getDocumentElement(), "DocBody");
            if (l.docBody == null || text(l.docBody, "DocRoot") == null) {
                throw new Refused("OFD.xml has no DocBody with a DocRoot");
            }
            l.docRoot = resolve("", text(l.docBody, "DocRoot"));
            l.document = xml(need(entries, l.docRoot, "the document root"), l.docRoot);
            Element pages = child(l.document.getDocumentElement(), "Pages");
            if (pages != null) {
                for (Element page : children(pages, "Page")) {
                    l.pages.add(new String[] {page.getAttribute("ID"), page.getAttribute("BaseLoc")});
                }
            }
            String signatures = text(l.docBody, "Signatures");
            l.signaturesPath = signatures == null || signatures.isEmpty() ? null : resolve("", signatures);
            return l;
        }
    }

    static int signNumber(String id) {
        Matcher m = SIGN_ID.matcher(id == null ? "" : id.trim());
        return m.matches() ? Integer.parseInt(m.group(1)) : 0;
    }

    static String signId(int n) {
        return String.format("s%03d", n);
    }

    static String mm(double value) {
        return new BigDecimal(Double.toString(value)).stripTrailingZeros().toPlainString();
    }

    static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    /** The files a signature's References name, resolved against its Signature.xml. */
    static List<String> referencedFiles(Map<String, byte[]> entries, String sigPath) throws Refused {
        List<String> files = new ArrayList<>();
        Element info = child(xml(need(entries, sigPath, "a signature file"), sigPath).getDocumentElement(),
                "SignedInfo");
        Element refs = info == null ? null : child(info, "References");
        if (refs != null) {
            for (Element ref : children(refs, "Reference")) {
                files.add(resolve(dir(sigPath), ref.getAttribute("FileRef")));
            }
        }
        return files;
    }

    // -- sealing -------------------------------------------------------------------------

    static Map<String, Object> sign(SesCheck.Args a) throws Exception {
        Path in = a.path(0, "IN.ofd");
        Path out = a.path(1, "OUT.ofd");
        String type = a.get("--type") == null ? "Seal" : a.get("--type");
        if (!type.equals("Seal")) {
            throw new Refused("only Type=Seal: SignedValue.dat is an SES_Signature");
        }
        byte[] sealDer = Files.readAllBytes(Paths.get(a.need("--seal")));
        Ses.Seal seal = Ses.Seal.parse(sealDer);
        int page = Integer.parseInt(a.need("--page"));
        double x = Double.parseDouble(a.need("--x"));
        double y = Double.parseDouble(a.need("--y"));
        double w = Double.parseDouble(a.need("--w"));
        double h = Double.parseDouble(a.need("--h"));
        boolean protectList = a.flag("--protect-signatures");
        Date when = a.time("--time", new Date());

        LinkedHashMap<String, byte[]> entries = read(in);
        Layout layout = Layout.of(entries);
        if (page < 1 || page > layout.pages.size()) {
            throw new Refused("page " + page + " is not in the document (" + layout.pages.size() + " pages)");
        }
        String pageRef = layout.pages.get(page - 1)[0];

        // the signature list: the existing one (which no signature may protect), or a new one
        Document list;
        String signaturesPath = layout.signaturesPath;
        int maxId = 0;
        if (signaturesPath == null) {
            signaturesPath = (dir(layout.docRoot).isEmpty() ? "" : dir(layout.docRoot) + "/") + "Signs/Signatures.xml";
            Element entry = element(layout.ofd, layout.docBody, "Signatures");
            entry.setTextContent("/" + signaturesPath);
            layout.docBody.appendChild(entry);
            entries.put("OFD.xml", serialize(layout.ofd));
            list = xml(("<ofd:Signatures xmlns:ofd=\"" + NS + "\"/>").getBytes(StandardCharsets.UTF_8),
                    "a new Signatures.xml");
        } else {
            list = xml(need(entries, signaturesPath, "the signature list"), signaturesPath);
            maxId = signNumber(text(list.getDocumentElement(), "MaxSignId"));
            for (Element sig : children(list.getDocumentElement(), "Signature")) {
                maxId = Math.max(maxId, signNumber(sig.getAttribute("ID")));
                String sigPath = resolve(dir(signaturesPath), sig.getAttribute("BaseLoc"));
                if (entries.containsKey(sigPath)
                        && referencedFiles(entries, sigPath).contains(signaturesPath)) {
                    throw new Refused("signature " + sig.getAttribute("ID")
                            + " protects Signatures.xml: the document takes no further signature");
                }
            }
        }
        String signsDir = dir(signaturesPath);
        int index = 0;
        String prefix = signsDir.isEmpty() ? "" : signsDir + "/";
        for (String name : entries.keySet()) {
            if (name.startsWith(prefix)) {
                Matcher m = SIGN_DIR.matcher(name.substring(prefix.length()));
                if (m.find()) {
                    index = Math.max(index, Integer.parseInt(m.group(1)) + 1);
                }
            }
        }
        String signDir = prefix + "Sign_" + index;
        String signatureId = signId(maxId + 1);
        String annotId = signId(maxId + 2);

        Element root = list.getDocumentElement();
        Element max = child(root, "MaxSignId");
        if (max == null) {
            max = element(list, root, "MaxSignId");
            root.insertBefore(max, root.getFirstChild());
        }
        max.setTextContent(annotId);
        Element registered = element(list, root, "Signature");
        registered.setAttribute("ID", signatureId);
        registered.setAttribute("Type", type);
        registered.setAttribute("BaseLoc", "/" + signDir + "/Signature.xml");
        root.appendChild(registered);
        entries.put(signaturesPath, serialize(list));
        entries.put(signDir + "/Seal.esl", sealDer);

        // the digests, then Signature.xml over them
        StringBuilder refs = new StringBuilder();
        List<Object> protectedFiles = new ArrayList<>();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            if (e.getKey().equals(signaturesPath) && !protectList) {
                continue;
            }
            protectedFiles.add("/" + e.getKey());
            refs.append("      <ofd:Reference FileRef=\"/").append(escape(e.getKey())).append("\">")
                    .append("<ofd:CheckValue>").append(Base64.getEncoder().encodeToString(Ses.sm3(e.getValue())))
                    .append("</ofd:CheckValue></ofd:Reference>\n");
        }
        SimpleDateFormat china = new SimpleDateFormat("yyyy-MM-dd HH:mm:ss");
        china.setTimeZone(TimeZone.getTimeZone("Asia/Shanghai"));
        String signatureXml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                + "<ofd:Signature xmlns:ofd=\"" + NS + "\">\n"
                + "  <ofd:SignedInfo>\n"
                + "    <ofd:Provider ProviderName=\"" + PROVIDER + "\" Company=\"Bouncy Castle\" Version=\"1\"/>\n"
                + "    <ofd:SignatureMethod>" + Ses.SM2_WITH_SM3 + "</ofd:SignatureMethod>\n"
                + "    <ofd:SignatureDateTime>" + china.format(when) + "</ofd:SignatureDateTime>\n"
                + "    <ofd:References CheckMethod=\"SM3\">\n" + refs
                + "    </ofd:References>\n"
                + "    <ofd:StampAnnot ID=\"" + annotId + "\" PageRef=\"" + escape(pageRef)
                + "\" Boundary=\"" + mm(x) + " " + mm(y) + " " + mm(w) + " " + mm(h) + "\"/>\n"
                + "    <ofd:Seal><ofd:BaseLoc>/" + escape(signDir) + "/Seal.esl</ofd:BaseLoc></ofd:Seal>\n"
                + "  </ofd:SignedInfo>\n"
                + "  <ofd:SignedValue>/" + escape(signDir) + "/SignedValue.dat</ofd:SignedValue>\n"
                + "</ofd:Signature>\n";
        byte[] signatureBytes = signatureXml.getBytes(StandardCharsets.UTF_8);
        int version = a.integer("--version", seal.version);
        String propertyInfo = "/" + signDir + "/Signature.xml";
        byte[][] made = Ses.buildSignature(version, sealDer, when, Ses.sm3(signatureBytes), propertyInfo,
                Ses.readPrivateKey(Paths.get(a.need("--key"))),
                Ses.readCertificate(Paths.get(a.need("--cert"))));
        byte[] signedValue = made[0];
        byte[] token = SesCheck.token(a, made[1], when);
        if (token != null) {
            signedValue = Ses.withTimestamp(signedValue, token);
        }
        entries.put(signDir + "/Signature.xml", signatureBytes);
        entries.put(signDir + "/SignedValue.dat", signedValue);
        write(out, entries);

        Map<String, Object> report = new LinkedHashMap<>();
        report.put("signatures_loc", "/" + signaturesPath);
        report.put("sign_dir", "/" + signDir);
        report.put("signature_id", signatureId);
        report.put("stamp_annot_id", annotId);
        report.put("max_sign_id", annotId);
        report.put("page_ref", pageRef);
        report.put("protects_signatures_list", protectList);
        report.put("references", protectedFiles);
        report.put("version", version);
        report.put("signature_value", Ses.hex(made[1]));
        report.put("timestamp_present", token != null);
        return report;
    }

    // -- verifying -----------------------------------------------------------------------

    static Map<String, Object> verify(SesCheck.Args a) throws Exception {
        LinkedHashMap<String, byte[]> entries = read(a.path(0, "IN.ofd"));
        Layout layout = Layout.of(entries);
        Date at = a.time("--at", new Date());
        Map<String, Object> out = new LinkedHashMap<>();
        List<Object> reports = new ArrayList<>();
        out.put("signatures_loc", layout.signaturesPath == null ? null : "/" + layout.signaturesPath);
        if (layout.signaturesPath == null) {
            out.put("max_sign_id", null);
            out.put("signatures", reports);
            out.put("valid", false);
            return out;
        }
        Document list = xml(need(entries, layout.signaturesPath, "the signature list"), layout.signaturesPath);
        out.put("max_sign_id", text(list.getDocumentElement(), "MaxSignId"));
        List<String> pageIds = new ArrayList<>();
        for (String[] p : layout.pages) {
            pageIds.add(p[0]);
        }
        boolean all = true;
        for (Element sig : children(list.getDocumentElement(), "Signature")) {
            Map<String, Object> r = one(entries, layout, sig, pageIds, at);
            all &= Boolean.TRUE.equals(r.get("valid"));
            reports.add(r);
        }
        out.put("signatures", reports);
        out.put("valid", all && !reports.isEmpty());
        return out;
    }

    static Map<String, Object> one(Map<String, byte[]> entries, Layout layout, Element registered,
            List<String> pageIds, Date at) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        String type = registered.hasAttribute("Type") ? registered.getAttribute("Type") : "Seal";
        r.put("id", registered.getAttribute("ID"));
        r.put("type", type);
        r.put("base_loc", registered.getAttribute("BaseLoc"));
        String sigPath = resolve(dir(layout.signaturesPath), registered.getAttribute("BaseLoc"));
        byte[] sigXml = entries.get(sigPath);
        if (sigXml == null) {
            r.put("error", "/" + sigPath + " is not in the package");
            r.put("valid", false);
            return r;
        }
        Element root = xml(sigXml, sigPath).getDocumentElement();
        Element info = child(root, "SignedInfo");
        if (info == null) {
            r.put("error", "/" + sigPath + " has no SignedInfo");
            r.put("valid", false);
            return r;
        }
        Element provider = child(info, "Provider");
        r.put("provider", provider == null ? null : provider.getAttribute("ProviderName"));
        r.put("signature_method", text(info, "SignatureMethod"));
        r.put("signature_date_time", text(info, "SignatureDateTime"));

        // the references
        Element refs = child(info, "References");
        String checkMethod = refs == null ? null : refs.getAttribute("CheckMethod");
        r.put("check_method", checkMethod);
        boolean sm3 = checkMethod != null
                && (checkMethod.equalsIgnoreCase("SM3") || checkMethod.equals(Ses.SM3));
        r.put("check_method_supported", sm3);
        List<Object> ok = new ArrayList<>();
        List<Object> changed = new ArrayList<>();
        List<Object> missing = new ArrayList<>();
        List<String> covered = new ArrayList<>();
        if (refs != null) {
            for (Element ref : children(refs, "Reference")) {
                String fileRef = ref.getAttribute("FileRef");
                String path = resolve(dir(sigPath), fileRef);
                covered.add(path);
                byte[] data = entries.get(path);
                if (data == null) {
                    missing.add(fileRef);
                    continue;
                }
                byte[] expected;
                try {
                    expected = Base64.getDecoder().decode(text(ref, "CheckValue"));
                } catch (IllegalArgumentException | NullPointerException e) {
                    expected = new byte[0];
                }
                (sm3 && Arrays.equals(expected, Ses.sm3(data)) ? ok : changed).add(fileRef);
            }
        }
        Map<String, Object> refReport = new LinkedHashMap<>();
        refReport.put("ok", ok);
        refReport.put("changed", changed);
        refReport.put("missing", missing);
        r.put("references", refReport);
        r.put("protects_signatures_list", covered.contains(layout.signaturesPath));
        String valuePath = text(root, "SignedValue") == null ? null : resolve(dir(sigPath), text(root, "SignedValue"));
        List<Object> notCovered = new ArrayList<>();
        for (String name : entries.keySet()) {
            if (!covered.contains(name) && !name.equals(sigPath) && !name.equals(valuePath)
                    && !name.equals(layout.signaturesPath)) {
                notCovered.add("/" + name);
            }
        }
        r.put("not_covered", notCovered);

        // the appearances
        List<Object> annots = new ArrayList<>();
        for (Element annot : children(info, "StampAnnot")) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("id", annot.getAttribute("ID"));
            one.put("page_ref", annot.getAttribute("PageRef"));
            one.put("boundary", annot.getAttribute("Boundary"));
            one.put("page_exists", pageIds.contains(annot.getAttribute("PageRef")));
            annots.add(one);
        }
        r.put("stamp_annots", annots);

        // the signed value, over Signature.xml, and the seal beside it
        Map<String, Object> signed;
        Ses.SesSignature ses = null;
        byte[] value = valuePath == null ? null : entries.get(valuePath);
        if (value == null) {
            signed = new LinkedHashMap<>();
            signed.put("error", "no SignedValue file in the package");
        } else {
            try {
                ses = Ses.SesSignature.parse(value);
                signed = ses.report(sigXml, at);
            } catch (Ses.FormatError e) {
                signed = new LinkedHashMap<>();
                signed.put("error", e.getMessage());
            }
        }
        r.put("signed_value", signed);
        Element sealEl = child(info, "Seal");
        Boolean sealMatches = null;
        if (sealEl != null) {
            byte[] sealFile = entries.get(resolve(dir(sigPath), text(sealEl, "BaseLoc")));
            sealMatches = ses != null && sealFile != null && Arrays.equals(sealFile, ses.seal.encoded);
        }
        r.put("seal_matches", sealMatches);
        r.put("property_info_matches", ses != null && ses.propertyInfo.equals("/" + sigPath));
        r.put("signature_method_matches", ses != null && ses.signatureAlg.equals(text(info, "SignatureMethod")));
        r.put("valid", type.equals("Seal") && sm3 && changed.isEmpty() && missing.isEmpty()
                && !covered.isEmpty() && Boolean.TRUE.equals(signed.get("valid"))
                && Boolean.TRUE.equals(signed.get("data_hash_ok"))
                && !Boolean.FALSE.equals(sealMatches));
        return r;
    }
}
