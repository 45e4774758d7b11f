// The seal and signature structures of GB/T 38540-2020 (version 4) and GM/T 0031 (version 5),
// read and written with Bouncy Castle, for SesCheck (tests/interop/sescheck.py). Written from
// the standard's ASN.1 as ofdrw (ofdrw-gm, packages ses/v4 and ses/v5) lays it out:
//
//   SESeal        ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING (the maker's),
//                                signAlgID OBJECT IDENTIFIER, signedValue BIT STRING,
//                                timeStamp [0] EXPLICIT BIT STRING OPTIONAL   -- version 5 only }
//   SES_SealInfo  ::= SEQUENCE { header SES_Header, esID IA5String, property SES_ESPropertyInfo,
//                                picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }
//   SES_Header    ::= SEQUENCE { id IA5String ("ES"), version INTEGER, vid IA5String }
//   SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certListType INTEGER,
//                                certList SES_CertList, createDate GeneralizedTime,
//                                validStart GeneralizedTime, validEnd GeneralizedTime }
//   SES_CertList  ::= CHOICE { certs SEQUENCE OF OCTET STRING                  -- type 1
//                              certDigestList SEQUENCE OF SEQUENCE {
//                                  type PrintableString, value OCTET STRING } } -- type 2
//   SES_ESPictrueInfo ::= SEQUENCE { type IA5String, data OCTET STRING, width INTEGER (mm),
//                                height INTEGER (mm) }
//   ExtensionDatas ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN, extnValue OCTET STRING }
//   TBS_Sign      ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo GeneralizedTime,
//                                dataHash BIT STRING, propertyInfo IA5String,
//                                extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
//   SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING (the signer's),
//                                signatureAlgID OBJECT IDENTIFIER, signature BIT STRING,
//                                timeStamp [0] EXPLICIT BIT STRING OPTIONAL }
//
// The version is read from the seal's header (and TBS_Sign.version), never guessed from field
// counts. Parsing is strict: a wrong type, a missing field, an extra field, a BIT STRING that is
// not octet-aligned all fail; whether the bytes are DER is reported (not refused) so a caller
// sees it. The maker signature is SM2 with SM3 (user id 1234567812345678) over DER(eSealInfo);
// the signer signature the same over DER(toSign); a timestamp token's imprint is the digest of
// the signature value it sits beside (the BIT STRING's octets), as ofdrw's TimeStampHook gets it.

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.text.ParseException;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;

import org.bouncycastle.asn1.ASN1BitString;
import org.bouncycastle.asn1.ASN1Boolean;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1GeneralizedTime;
import org.bouncycastle.asn1.ASN1IA5String;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1PrintableString;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.ASN1TaggedObject;
import org.bouncycastle.asn1.ASN1UTF8String;
import org.bouncycastle.asn1.BERTags;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.DERIA5String;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERPrintableString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERTaggedObject;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.gm.GMObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TimeStampRequest;
import org.bouncycastle.tsp.TimeStampRequestGenerator;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.tsp.TimeStampTokenGenerator;
import org.bouncycastle.tsp.TimeStampTokenInfo;
import org.bouncycastle.util.Selector;

final class Ses {
    private Ses() {}

    static final String SM2_WITH_SM3 = "1.2.156.10197.1.501";
    static final String SM3 = "1.2.156.10197.1.401";
    /** TSA policy of tokens SesCheck makes itself (a test arc, not a registered one). */
    static final String TEST_TSA_POLICY = "1.3.6.1.4.1.61934.99.1";

    /** A structure that does not parse as the standard says. */
    static final class FormatError extends Exception {
        FormatError(String message) {
            super(message);
        }
    }

    // -- small helpers -------------------------------------------------------------------

    static String hex(byte[] data) {
        return HexFormat.of().formatHex(data);
    }

    static byte[] sm3(byte[] data) throws Exception {
        return MessageDigest.getInstance("SM3", "BC").digest(data);
    }

    static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }

    static byte[] der(ASN1Encodable value) throws IOException {
        return value.toASN1Primitive().getEncoded(ASN1Encoding.DER);
    }

    /** One ASN.1 value and nothing after it (BER accepted here; {@link #isDer} says which). */
    static ASN1Primitive parse(byte[] data, String what) throws FormatError {
        try {
            return ASN1Primitive.fromByteArray(data);
        } catch (IOException | RuntimeException e) {
            throw new FormatError(what + " is not one ASN.1 value: " + e.getMessage());
        }
    }

    static boolean isDer(byte[] data) {
        try {
            return Arrays.equals(ASN1Primitive.fromByteArray(data).getEncoded(ASN1Encoding.DER), data);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static final SimpleDateFormat ISO = isoFormat();

    private static SimpleDateFormat isoFormat() {
        SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'");
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return f;
    }

    static String iso(Date when) {
        return when == null ? null : ISO.format(when);
    }

    /** An ISO 8601 instant such as 2024-05-01T08:00:00Z or 2024-05-01T16:00:00+08:00. */
    static Date parseIso(String text) {
        return Date.from(java.time.OffsetDateTime.parse(text).toInstant());
    }

    /** GeneralizedTime in whole seconds, UTC, as DER wants it (YYYYMMDDHHMMSSZ). */
    static ASN1GeneralizedTime generalizedTime(Date when) {
        SimpleDateFormat f = new SimpleDateFormat("yyyyMMddHHmmss'Z'");
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return new ASN1GeneralizedTime(f.format(when));
    }

    static X509Certificate certificate(byte[] der) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509", "BC");
        return (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der));
    }

    /** A certificate from a PEM or DER file. */
    static X509Certificate readCertificate(Path path) throws Exception {
        byte[] data = Files.readAllBytes(path);
        String text = new String(data, StandardCharsets.ISO_8859_1);
        if (text.contains("-----BEGIN")) {
            try (PEMParser pem = new PEMParser(new java.io.StringReader(text))) {
                Object object = pem.readObject();
                if (!(object instanceof X509CertificateHolder holder)) {
                    throw new IllegalArgumentException(path + " holds no certificate");
                }
                return new JcaX509CertificateConverter().setProvider("BC").getCertificate(holder);
            }
        }
        return certificate(data);
    }

    /** A PKCS#8 private key from a PEM ("PRIVATE KEY") or DER file. */
    static PrivateKey readPrivateKey(Path path) throws Exception {
        byte[] data = Files.readAllBytes(path);
        String text = new String(data, StandardCharsets.ISO_8859_1);
        PrivateKeyInfo info;
        if (text.contains("-----BEGIN")) {
            try (PEMParser pem = new PEMParser(new java.io.StringReader(text))) {
                Object object = pem.readObject();
                if (object instanceof org.bouncycastle.openssl.PEMKeyPair pair) {
                    info = pair.getPrivateKeyInfo();
                } else if (object instanceof PrivateKeyInfo pki) {
                    info = pki;
                } else {
                    throw new IllegalArgumentException(path + " holds no PKCS#8 private key");
                }
            }
        } else {
            info = PrivateKeyInfo.getInstance(data);
        }
        return new JcaPEMKeyConverter().setProvider("BC").getPrivateKey(info);
    }

    /** SM2 with SM3 and the default user id 1234567812345678 (Bouncy Castle's default). */
    static byte[] sm2Sign(PrivateKey key, byte[] message) throws Exception {
        Signature signer = Signature.getInstance("SM3withSM2", "BC");
        signer.initSign(key);
        signer.update(message);
        return signer.sign();
    }

    static boolean sm2Verify(X509Certificate cert, byte[] message, byte[] signature) {
        try {
            Signature verifier = Signature.getInstance("SM3withSM2", "BC");
            verifier.initVerify(cert.getPublicKey());
            verifier.update(message);
            return verifier.verify(signature);
        } catch (Exception e) {
            return false;  // a signature that is not DER (r, s), a key that is not SM2
        }
    }

    static Map<String, Object> describe(X509Certificate cert) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("subject", cert.getSubjectX500Principal().getName());
        out.put("issuer", cert.getIssuerX500Principal().getName());
        out.put("serial", cert.getSerialNumber().toString(16));
        out.put("not_before", iso(cert.getNotBefore()));
        out.put("not_after", iso(cert.getNotAfter()));
        out.put("signature_algorithm", cert.getSigAlgOID());
        return out;
    }

    static boolean within(Date when, Date start, Date end) {
        return when != null && !when.before(start) && !when.after(end);
    }

    // -- strict readers ------------------------------------------------------------------

    static ASN1Sequence sequence(ASN1Encodable value, String what, int min, int max)
            throws FormatError {
        if (!(value instanceof ASN1Sequence seq)) {
            throw new FormatError(what + " is not a SEQUENCE");
        }
        if (seq.size() < min || seq.size() > max) {
            throw new FormatError(what + " has " + seq.size() + " fields, not "
                    + (min == max ? String.valueOf(min) : min + " to " + max));
        }
        return seq;
    }

    static <T> T field(ASN1Encodable value, Class<T> type, String what) throws FormatError {
        if (!type.isInstance(value)) {
            throw new FormatError(what + " is not " + type.getSimpleName().replace("ASN1", ""));
        }
        return type.cast(value);
    }

    static int integer(ASN1Encodable value, String what) throws FormatError {
        BigInteger v = field(value, ASN1Integer.class, what).getValue();
        if (v.bitLength() > 31) {
            throw new FormatError(what + " is out of range");
        }
        return v.intValue();
    }

    static byte[] octets(ASN1Encodable value, String what) throws FormatError {
        return field(value, ASN1OctetString.class, what).getOctets();
    }

    static byte[] bits(ASN1Encodable value, String what) throws FormatError {
        ASN1BitString bits = field(value, ASN1BitString.class, what);
        if (bits.getPadBits() != 0) {
            throw new FormatError(what + " is a BIT STRING that is not octet-aligned");
        }
        return bits.getOctets();
    }

    static Date time(ASN1Encodable value, String what) throws FormatError {
        try {
            return field(value, ASN1GeneralizedTime.class, what).getDate();
        } catch (ParseException e) {
            throw new FormatError(what + " is not a valid GeneralizedTime");
        }
    }

    /** The [0] EXPLICIT field at {@code value}, or a format error. */
    static ASN1Encodable explicitZero(ASN1Encodable value, String what) throws FormatError {
        if (!(value instanceof ASN1TaggedObject tagged)
                || tagged.getTagClass() != BERTags.CONTEXT_SPECIFIC || tagged.getTagNo() != 0) {
            throw new FormatError(what + " is not tagged [0]");
        }
        if (!tagged.isExplicit()) {
            throw new FormatError(what + " is tagged [0] IMPLICIT, the standard has EXPLICIT");
        }
        return tagged.getExplicitBaseObject();
    }

    // -- the seal ------------------------------------------------------------------------

    static final class Seal {
        byte[] encoded;          // DER of the whole SESeal as it was read or made
        boolean der;             // the bytes read were DER
        int version;
        String headerId;
        String vid;
        String esId;
        int type;
        String name;
        int certListType;
        List<byte[]> certs = new ArrayList<>();            // certListType 1: DER certificates
        List<String[]> certDigests = new ArrayList<>();    // certListType 2: {type, hex value}
        Date createDate;
        Date validStart;
        Date validEnd;
        String pictureType;
        byte[] picture;
        int width;
        int height;
        int extensions;
        byte[] sealInfoDer;
        byte[] makerCert;
        String signAlg;
        byte[] signedValue;
        byte[] timeStamp;        // version 5: the token, or null

        static Seal parse(byte[] data) throws FormatError {
            Seal seal = read(Ses.parse(data, "the seal"));
            seal.der = isDer(data);
            return seal;
        }

        static Seal read(ASN1Primitive value) throws FormatError {
            Seal s = new Seal();
            ASN1Sequence top = sequence(value, "SESeal", 4, 5);
            ASN1Sequence info = sequence(top.getObjectAt(0), "SES_SealInfo", 4, 5);
            ASN1Sequence header = sequence(info.getObjectAt(0), "SES_Header", 3, 3);
            s.headerId = field(header.getObjectAt(0), ASN1IA5String.class, "header.id").getString();
            if (!"ES".equals(s.headerId)) {
                throw new FormatError("header.id is \"" + s.headerId + "\", not \"ES\"");
            }
            s.version = integer(header.getObjectAt(1), "header.version");
            if (s.version != 4 && s.version != 5) {
                throw new FormatError("header.version " + s.version + " is neither 4 nor 5");
            }
            s.vid = field(header.getObjectAt(2), ASN1IA5String.class, "header.vid").getString();
            s.esId = field(info.getObjectAt(1), ASN1IA5String.class, "esID").getString();
            ASN1Sequence property = sequence(info.getObjectAt(2), "SES_ESPropertyInfo", 7, 7);
            s.type = integer(property.getObjectAt(0), "property.type");
            s.name = field(property.getObjectAt(1), ASN1UTF8String.class, "property.name").getString();
            s.certListType = integer(property.getObjectAt(2), "property.certListType");
            ASN1Sequence list = sequence(property.getObjectAt(3), "property.certList", 0,
                    Integer.MAX_VALUE);
            for (ASN1Encodable entry : list) {
                if (s.certListType == 1) {
                    s.certs.add(octets(entry, "a certList entry"));
                } else if (s.certListType == 2) {
                    ASN1Sequence digest = sequence(entry, "a CertDigestObj", 2, 2);
                    s.certDigests.add(new String[] {
                        field(digest.getObjectAt(0), ASN1PrintableString.class,
                                "CertDigestObj.type").getString(),
                        hex(octets(digest.getObjectAt(1), "CertDigestObj.value"))});
                } else {
                    throw new FormatError("certListType " + s.certListType + " is neither 1 nor 2");
                }
            }
            s.createDate = time(property.getObjectAt(4), "property.createDate");
            s.validStart = time(property.getObjectAt(5), "property.validStart");
            s.validEnd = time(property.getObjectAt(6), "property.validEnd");
            ASN1Sequence picture = sequence(info.getObjectAt(3), "SES_ESPictrueInfo", 4, 4);
            s.pictureType = field(picture.getObjectAt(0), ASN1IA5String.class, "picture.type")
                    .getString();
            s.picture = octets(picture.getObjectAt(1), "picture.data");
            s.width = integer(picture.getObjectAt(2), "picture.width");
            s.height = integer(picture.getObjectAt(3), "picture.height");
            if (info.size() == 5) {
                s.extensions = extensionDatas(info.getObjectAt(4), "eSealInfo.extDatas");
            }
            try {
                s.sealInfoDer = der(info);
                s.encoded = der(top);
            } catch (IOException e) {
                throw new FormatError("cannot encode the seal: " + e.getMessage());
            }
            s.makerCert = octets(top.getObjectAt(1), "SESeal.cert");
            s.signAlg = field(top.getObjectAt(2), ASN1ObjectIdentifier.class, "SESeal.signAlgID")
                    .getId();
            s.signedValue = bits(top.getObjectAt(3), "SESeal.signedValue");
            if (top.size() == 5) {
                if (s.version != 5) {
                    throw new FormatError("a version 4 SESeal has four fields; this one has five");
                }
                s.timeStamp = bits(explicitZero(top.getObjectAt(4), "SESeal.timeStamp"),
                        "SESeal.timeStamp");
            }
            return s;
        }

        /** The checks a verifier makes of the seal alone (GM/T 0031 order), as JSON. */
        Map<String, Object> report(Date at) throws Exception {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("version", version);
            out.put("vid", vid);
            out.put("es_id", esId);
            out.put("type", type);
            out.put("name", name);
            out.put("cert_list_type", certListType);
            out.put("cert_count", certListType == 1 ? certs.size() : certDigests.size());
            List<Object> listed = new ArrayList<>();
            if (certListType == 1) {
                for (byte[] c : certs) {
                    Map<String, Object> one = new LinkedHashMap<>();
                    one.put("sm3", hex(sm3(c)));
                    try {
                        one.put("subject", certificate(c).getSubjectX500Principal().getName());
                    } catch (Exception e) {
                        one.put("subject", null);
                    }
                    listed.add(one);
                }
            } else {
                for (String[] d : certDigests) {
                    listed.add(Map.of("type", d[0], "value", d[1]));
                }
            }
            out.put("cert_list", listed);
            out.put("create_date", iso(createDate));
            out.put("valid_start", iso(validStart));
            out.put("valid_end", iso(validEnd));
            Map<String, Object> pic = new LinkedHashMap<>();
            pic.put("type", pictureType);
            pic.put("width", width);
            pic.put("height", height);
            pic.put("size", picture.length);
            pic.put("sha256", hex(sha256(picture)));
            out.put("picture", pic);
            out.put("extensions", extensions);
            out.put("der", der);
            out.put("sign_alg", signAlg);
            out.put("signed_value", hex(signedValue));
            X509Certificate maker = null;
            try {
                maker = certificate(makerCert);
                out.put("maker", describe(maker));
            } catch (Exception e) {
                out.put("maker", null);
            }
            boolean makerOk = maker != null && SM2_WITH_SM3.equals(signAlg)
                    && sm2Verify(maker, sealInfoDer, signedValue);
            out.put("maker_signature_ok", makerOk);
            out.put("created_within_maker_validity",
                    maker != null && within(createDate, maker.getNotBefore(), maker.getNotAfter()));
            out.put("validity_ordered", !validStart.after(validEnd));
            out.put("within_validity_now", within(at, validStart, validEnd));
            out.put("timestamp_present", timeStamp != null);
            Map<String, Object> ts = timeStamp == null ? null : timestampReport(timeStamp, signedValue);
            out.put("timestamp", ts);
            boolean created = Boolean.TRUE.equals(out.get("created_within_maker_validity"));
            out.put("valid", makerOk && der && created && !validStart.after(validEnd)
                    && (ts == null || Boolean.TRUE.equals(ts.get("ok"))));
            return out;
        }
    }

    static int extensionDatas(ASN1Encodable value, String what) throws FormatError {
        ASN1Sequence list = sequence(value, what, 0, Integer.MAX_VALUE);
        for (ASN1Encodable entry : list) {
            ASN1Sequence ext = sequence(entry, "an ExtData", 2, 3);
            field(ext.getObjectAt(0), ASN1ObjectIdentifier.class, "ExtData.extnID");
            if (ext.size() == 3) {
                field(ext.getObjectAt(1), ASN1Boolean.class, "ExtData.critical");
            }
            octets(ext.getObjectAt(ext.size() - 1), "ExtData.extnValue");
        }
        return list.size();
    }

    // -- the signature -------------------------------------------------------------------

    static final class SesSignature {
        byte[] encoded;
        boolean der;
        int version;
        Seal seal;
        Date timeInfo;
        byte[] dataHash;
        String propertyInfo;
        int extensions;
        byte[] tbsDer;
        byte[] cert;
        String signatureAlg;
        byte[] signature;
        byte[] timeStamp;

        static SesSignature parse(byte[] data) throws FormatError {
            SesSignature s = read(Ses.parse(data, "the signature"));
            s.der = isDer(data);
            s.seal.der = s.der;  // the seal inside is DER when the whole is
            return s;
        }

        static SesSignature read(ASN1Primitive value) throws FormatError {
            SesSignature s = new SesSignature();
            ASN1Sequence top = sequence(value, "SES_Signature", 4, 5);
            ASN1Sequence tbs = sequence(top.getObjectAt(0), "TBS_Sign", 5, 6);
            s.version = integer(tbs.getObjectAt(0), "TBS_Sign.version");
            if (s.version != 4 && s.version != 5) {
                throw new FormatError("TBS_Sign.version " + s.version + " is neither 4 nor 5");
            }
            s.seal = Seal.read(tbs.getObjectAt(1).toASN1Primitive());
            s.timeInfo = time(tbs.getObjectAt(2), "TBS_Sign.timeInfo");
            s.dataHash = bits(tbs.getObjectAt(3), "TBS_Sign.dataHash");
            s.propertyInfo = field(tbs.getObjectAt(4), ASN1IA5String.class, "TBS_Sign.propertyInfo")
                    .getString();
            if (tbs.size() == 6) {
                s.extensions = extensionDatas(explicitZero(tbs.getObjectAt(5), "TBS_Sign.extDatas"),
                        "TBS_Sign.extDatas");
            }
            try {
                s.tbsDer = der(tbs);
                s.encoded = der(top);
            } catch (IOException e) {
                throw new FormatError("cannot encode the signature: " + e.getMessage());
            }
            s.cert = octets(top.getObjectAt(1), "SES_Signature.cert");
            s.signatureAlg = field(top.getObjectAt(2), ASN1ObjectIdentifier.class,
                    "SES_Signature.signatureAlgID").getId();
            s.signature = bits(top.getObjectAt(3), "SES_Signature.signature");
            if (top.size() == 5) {
                s.timeStamp = bits(explicitZero(top.getObjectAt(4), "SES_Signature.timeStamp"),
                        "SES_Signature.timeStamp");
            }
            return s;
        }

        /** Whether the signer's certificate is on the seal's certList (by DER or by digest). */
        boolean signerListed() throws Exception {
            if (seal.certListType == 1) {
                for (byte[] c : seal.certs) {
                    if (Arrays.equals(c, cert)) {
                        return true;
                    }
                }
                return false;
            }
            for (String[] d : seal.certDigests) {
                String kind = d[0].toUpperCase().replace("-", "");
                byte[] digest = switch (kind) {
                    case "SM3", SM3 -> sm3(cert);
                    case "SHA256" -> sha256(cert);
                    default -> null;
                };
                if (digest != null && hex(digest).equalsIgnoreCase(d[1])) {
                    return true;
                }
            }
            return false;
        }

        /** The verifier's checks in GM/T 0031 order, over {@code data} when given. */
        Map<String, Object> report(byte[] data, Date at) throws Exception {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("version", version);
            Map<String, Object> sealReport = seal.report(at);
            out.put("seal", sealReport);
            out.put("version_matches_seal", version == seal.version);
            boolean makerOk = Boolean.TRUE.equals(sealReport.get("maker_signature_ok"));
            out.put("seal_maker_signature_ok", makerOk);
            out.put("time_info", iso(timeInfo));
            boolean sealValid = within(timeInfo, seal.validStart, seal.validEnd);
            out.put("seal_valid_at_signing", sealValid);
            out.put("property_info", propertyInfo);
            out.put("extensions", extensions);
            out.put("der", der);
            X509Certificate signer = null;
            try {
                signer = certificate(cert);
                out.put("signer", describe(signer));
            } catch (Exception e) {
                out.put("signer", null);
            }
            boolean listed = signerListed();
            out.put("signer_in_cert_list", listed);
            out.put("signer_cert_valid_at_signing",
                    signer != null && within(timeInfo, signer.getNotBefore(), signer.getNotAfter()));
            out.put("data_hash", hex(dataHash));
            Boolean hashOk = data == null ? null : Arrays.equals(sm3(data), dataHash);
            out.put("data_hash_ok", hashOk);
            out.put("signature_alg", signatureAlg);
            out.put("signature_value", hex(signature));
            boolean signerOk = signer != null && SM2_WITH_SM3.equals(signatureAlg)
                    && sm2Verify(signer, tbsDer, signature);
            out.put("signer_signature_ok", signerOk);
            out.put("timestamp_present", timeStamp != null);
            Map<String, Object> ts = timeStamp == null ? null : timestampReport(timeStamp, signature);
            out.put("timestamp", ts);
            out.put("valid", makerOk && Boolean.TRUE.equals(sealReport.get("valid"))
                    && version == seal.version && sealValid && listed && signerOk && der
                    && !Boolean.FALSE.equals(hashOk)
                    && (ts == null || Boolean.TRUE.equals(ts.get("ok"))));
            return out;
        }
    }

    // -- timestamps ----------------------------------------------------------------------

    /** A TimeStampToken (ContentInfo) from a token or a whole TimeStampResp. */
    static byte[] tokenBytes(byte[] data) throws Exception {
        ASN1Sequence seq = ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(data));
        if (seq.getObjectAt(0) instanceof ASN1ObjectIdentifier) {
            return data;
        }
        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
        if (seq.size() < 2) {
            throw new IllegalArgumentException("a TimeStampResp without a token");
        }
        return der(ContentInfo.getInstance(seq.getObjectAt(1)));
    }

    static Map<String, Object> timestampReport(byte[] tokenDer, byte[] stamped) {
        Map<String, Object> out = new LinkedHashMap<>();
        TimeStampToken token;
        try {
            token = new TimeStampToken(ContentInfo.getInstance(ASN1Primitive.fromByteArray(tokenDer)));
        } catch (Exception e) {
            out.put("error", "not a TimeStampToken: " + e.getMessage());
            out.put("imprint_ok", false);
            out.put("ok", false);
            return out;
        }
        TimeStampTokenInfo info = token.getTimeStampInfo();
        String alg = info.getMessageImprintAlgOID().getId();
        out.put("imprint_alg", alg);
        out.put("gen_time", iso(info.getGenTime()));
        out.put("serial", info.getSerialNumber().toString(16));
        out.put("policy", info.getPolicy().getId());
        boolean imprintOk;
        try {
            byte[] digest = MessageDigest.getInstance(alg, "BC").digest(stamped);
            imprintOk = Arrays.equals(digest, info.getMessageImprintDigest());
        } catch (Exception e) {
            imprintOk = false;
        }
        out.put("imprint_ok", imprintOk);
        @SuppressWarnings("unchecked")
        Collection<X509CertificateHolder> matches =
                token.getCertificates().getMatches((Selector<X509CertificateHolder>) token.getSID());
        Boolean signatureOk = null;
        if (!matches.isEmpty()) {
            X509CertificateHolder holder = matches.iterator().next();
            out.put("tsa", holder.getSubject().toString());
            try {
                token.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC")
                        .build(holder));
                signatureOk = true;
            } catch (Exception e) {
                signatureOk = false;
                out.put("signature_error", e.getMessage());
            }
        }
        out.put("signature_ok", signatureOk);  // null: the token carries no TSA certificate
        out.put("ok", imprintOk && !Boolean.FALSE.equals(signatureOk));
        return out;
    }

    /** A token over {@code stamped} (imprint SM3), signed by Bouncy Castle with an SM2 TSA key. */
    static byte[] makeToken(byte[] stamped, PrivateKey tsaKey, X509Certificate tsaCert, Date when)
            throws Exception {
        TimeStampTokenGenerator generator = new TimeStampTokenGenerator(
                new JcaSimpleSignerInfoGeneratorBuilder().setProvider("BC")
                        .build("SM3withSM2", tsaKey, tsaCert),
                new JcaDigestCalculatorProviderBuilder().setProvider("BC").build()
                        .get(new AlgorithmIdentifier(GMObjectIdentifiers.sm3)),
                new ASN1ObjectIdentifier(TEST_TSA_POLICY));
        generator.addCertificates(new org.bouncycastle.cert.jcajce.JcaCertStore(List.of(tsaCert)));
        TimeStampRequestGenerator requests = new TimeStampRequestGenerator();
        requests.setCertReq(true);
        TimeStampRequest request = requests.generate(
                new AlgorithmIdentifier(GMObjectIdentifiers.sm3), sm3(stamped),
                BigInteger.valueOf(System.nanoTime()));
        BigInteger serial = new BigInteger(64, new java.security.SecureRandom()).setBit(63);
        return generator.generate(request, serial, when).getEncoded();
    }

    // -- building ------------------------------------------------------------------------

    static DERSequence seq(ASN1Encodable... items) {
        ASN1EncodableVector v = new ASN1EncodableVector(items.length);
        for (ASN1Encodable item : items) {
            v.add(item);
        }
        return new DERSequence(v);
    }

    /** What a new seal holds; {@link #build} signs it. */
    static final class SealSpec {
        int version = 4;
        String vid = "eseal-bc";
        String esId;
        int type;
        String name;
        int certListType = 1;
        List<X509Certificate> signerCerts = new ArrayList<>();
        Date createDate;
        Date validStart;
        Date validEnd;
        String pictureType = "png";
        byte[] picture;
        int width;
        int height;

        ASN1Sequence sealInfo() throws Exception {
            ASN1EncodableVector list = new ASN1EncodableVector();
            for (X509Certificate c : signerCerts) {
                if (certListType == 1) {
                    list.add(new DEROctetString(c.getEncoded()));
                } else {
                    list.add(seq(new DERPrintableString("SM3"), new DEROctetString(sm3(c.getEncoded()))));
                }
            }
            return seq(
                    seq(new DERIA5String("ES"), new ASN1Integer(version), new DERIA5String(vid)),
                    new DERIA5String(esId),
                    seq(new ASN1Integer(type), new DERUTF8String(name), new ASN1Integer(certListType),
                            new DERSequence(list), generalizedTime(createDate),
                            generalizedTime(validStart), generalizedTime(validEnd)),
                    seq(new DERIA5String(pictureType), new DEROctetString(picture),
                            new ASN1Integer(width), new ASN1Integer(height)));
        }

        /** DER of the SESeal, signed by the maker; the signature value is also returned. */
        byte[][] build(PrivateKey makerKey, X509Certificate makerCert) throws Exception {
            ASN1Sequence info = sealInfo();
            byte[] signature = sm2Sign(makerKey, der(info));
            DERSequence seal = seq(info, new DEROctetString(makerCert.getEncoded()),
                    new ASN1ObjectIdentifier(SM2_WITH_SM3), new DERBitString(signature));
            return new byte[][] {der(seal), signature};
        }
    }

    /** DER of an SES_Signature over {@code dataHash}; the signature value is also returned. */
    static byte[][] buildSignature(int version, byte[] sealDer, Date timeInfo, byte[] dataHash,
            String propertyInfo, PrivateKey key, X509Certificate cert) throws Exception {
        DERSequence tbs = seq(new ASN1Integer(version), parse(sealDer, "the seal"),
                generalizedTime(timeInfo), new DERBitString(dataHash),
                new DERIA5String(propertyInfo));
        byte[] signature = sm2Sign(key, der(tbs));
        DERSequence signed = seq(tbs, new DEROctetString(cert.getEncoded()),
                new ASN1ObjectIdentifier(SM2_WITH_SM3), new DERBitString(signature));
        return new byte[][] {der(signed), signature};
    }

    /** {@code structure} (an SESeal or SES_Signature) with its [0] timeStamp set to the token. */
    static byte[] withTimestamp(byte[] structure, byte[] token) throws Exception {
        ASN1Sequence top = ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(structure));
        ASN1EncodableVector v = new ASN1EncodableVector();
        for (int i = 0; i < 4; i++) {
            v.add(top.getObjectAt(i));
        }
        v.add(new DERTaggedObject(true, 0, new DERBitString(token)));
        return der(new DERSequence(v));
    }

    /** Whether DER {@code data} is an SESeal (its first field a SES_SealInfo) or a signature. */
    static boolean looksLikeSeal(byte[] data) throws FormatError {
        ASN1Sequence top = sequence(parse(data, "the input"), "the input", 4, 5);
        ASN1Encodable first = top.getObjectAt(0);
        return first instanceof ASN1Sequence s && s.size() > 0 && s.getObjectAt(0) instanceof ASN1Sequence;
    }

    // -- JSON ----------------------------------------------------------------------------

    static String json(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String s) {
            out.append('"');
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                write(out, String.valueOf(e.getKey()));
                out.append(':');
                write(out, e.getValue());
            }
            out.append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(out, list.get(i));
            }
            out.append(']');
        } else {
            write(out, value.toString());
        }
    }
}
