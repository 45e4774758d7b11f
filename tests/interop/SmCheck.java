// Independent SM2 checks with Bouncy Castle, driven by tests/interop/conftest.py.
//
//   SmCheck sig PUBKEY.der MESSAGE SIGNATURE   SM3withSM2 (user id 1234567812345678, BC's default)
//   SmCheck chain ROOT.pem CA.pem LEAF.pem     each link's signature, then PKIX from the root
//   SmCheck crl ISSUER.pem CRL.der             the CRL's signature by the issuer
//   SmCheck cms SIGNED.pdf ROOT.pem            the PDF's last signature: /ByteRange covers the
//                                              file but /Contents, the CMS SignedData in
//                                              /Contents has digest SM3 and signature
//                                              SM2-with-SM3, message digest, signature and
//                                              signing-certificate-v2 (SM3) hold, and the
//                                              signer's chain builds (PKIX) to ROOT
//
// Prints one line and exits 0 when the check holds, 1 when it does not, 2 on bad usage.
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.MessageDigest;
import java.security.cert.CertPath;
import java.security.cert.CertPathBuilder;
import java.security.cert.CertStore;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXCertPathBuilderResult;
import java.security.cert.X509CertSelector;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.bouncycastle.asn1.ASN1InputStream;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.ess.ESSCertIDv2;
import org.bouncycastle.asn1.ess.SigningCertificateV2;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSException;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.util.Selector;
import org.bouncycastle.util.encoders.Hex;

public final class SmCheck {
    private static X509Certificate cert(String path) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509", "BC");
        try (FileInputStream in = new FileInputStream(path)) {
            return (X509Certificate) factory.generateCertificate(in);
        }
    }

    private static final String SM3 = "1.2.156.10197.1.401";
    private static final String SM2_WITH_SM3 = "1.2.156.10197.1.501";
    private static final Pattern BYTE_RANGE = Pattern.compile(
            "/ByteRange\\s*\\[\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s*\\]");

    /** Fails the check: prints why and exits 1. */
    private static void fail(String why) {
        System.out.println("check failed: " + why);
        System.exit(1);
    }

    private static void cms(String pdfPath, String rootPath) throws Exception {
        byte[] pdf = Files.readAllBytes(Paths.get(pdfPath));
        // the last /ByteRange of the file: the latest signature
        Matcher m = BYTE_RANGE.matcher(new String(pdf, java.nio.charset.StandardCharsets.ISO_8859_1));
        long[] range = null;
        while (m.find()) {
            range = new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                    Long.parseLong(m.group(3)), Long.parseLong(m.group(4))};
        }
        if (range == null) {
            fail("no /ByteRange in the file");
        }
        int a = (int) range[0], b = (int) range[1], c = (int) range[2], d = (int) range[3];
        if (a != 0 || c <= a + b || (long) c + d != pdf.length) {
            fail("/ByteRange does not cover the whole file but the /Contents hole");
        }
        // the hole is exactly the hex string <...> of /Contents
        if (pdf[a + b] != '<' || pdf[c - 1] != '>') {
            fail("the bytes not covered are not a hex string");
        }
        byte[] hex = Arrays.copyOfRange(pdf, a + b + 1, c - 1);
        byte[] der = Hex.decode(hex);  // zero padding after the DER is not read below
        ContentInfo info;
        try (ASN1InputStream in = new ASN1InputStream(der)) {
            info = ContentInfo.getInstance(in.readObject());
        }
        byte[] covered = new byte[b + d];
        System.arraycopy(pdf, a, covered, 0, b);
        System.arraycopy(pdf, c, covered, b, d);
        CMSSignedData signed = new CMSSignedData(new CMSProcessableByteArray(covered), info);

        X509Certificate root = cert(rootPath);
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter().setProvider("BC");
        List<X509Certificate> certs = new ArrayList<>();
        for (X509CertificateHolder holder : signed.getCertificates().getMatches(null)) {
            certs.add(converter.getCertificate(holder));
        }
        Collection<SignerInformation> signers = signed.getSignerInfos().getSigners();
        if (signers.size() != 1) {
            fail(signers.size() + " signer infos; a PDF signature has one");
        }
        SignerInformation signer = signers.iterator().next();
        if (!SM3.equals(signer.getDigestAlgOID())) {
            fail("digest algorithm " + signer.getDigestAlgOID() + ", not SM3");
        }
        if (!SM2_WITH_SM3.equals(signer.getEncryptionAlgOID())) {
            fail("signature algorithm " + signer.getEncryptionAlgOID() + ", not SM2-with-SM3");
        }
        @SuppressWarnings("unchecked")
        Collection<X509CertificateHolder> matches =
                signed.getCertificates().getMatches((Selector<X509CertificateHolder>) signer.getSID());
        if (matches.size() != 1) {
            fail("the signer's certificate is not in the CMS");
        }
        X509Certificate signerCert = converter.getCertificate(matches.iterator().next());
        // message-digest attribute against SM3 of the byte range, then the SM2 signature
        if (!signer.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC")
                .build(signerCert))) {
            fail("the SM2 signature over the signed attributes does not verify");
        }
        // signing-certificate-v2 names the signer's certificate by its SM3 hash
        AttributeTable attrs = signer.getSignedAttributes();
        Attribute scv2 = attrs == null ? null
                : attrs.get(PKCSObjectIdentifiers.id_aa_signingCertificateV2);
        if (scv2 == null) {
            fail("no signing-certificate-v2 attribute");
        }
        ESSCertIDv2 certId = SigningCertificateV2.getInstance(
                scv2.getAttrValues().getObjectAt(0)).getCerts()[0];
        if (!SM3.equals(certId.getHashAlgorithm().getAlgorithm().getId())) {
            fail("signing-certificate-v2 hashes with "
                    + certId.getHashAlgorithm().getAlgorithm().getId() + ", not SM3");
        }
        byte[] certHash = MessageDigest.getInstance("SM3", "BC").digest(signerCert.getEncoded());
        if (!Arrays.equals(certHash, certId.getCertHash())) {
            fail("signing-certificate-v2 does not match the signer's certificate");
        }
        // the chain: PKIX path from the signer's certificate to ROOT, using the CMS's certificates
        X509CertSelector target = new X509CertSelector();
        target.setCertificate(signerCert);
        PKIXBuilderParameters params = new PKIXBuilderParameters(
                Collections.singleton(new TrustAnchor(root, null)), target);
        params.addCertStore(CertStore.getInstance("Collection",
                new CollectionCertStoreParameters(certs), "BC"));
        params.setRevocationEnabled(false);
        params.setSigProvider("BC");
        PKIXCertPathBuilderResult result = (PKIXCertPathBuilderResult)
                CertPathBuilder.getInstance("PKIX", "BC").build(params);
        System.out.println("cms OK: " + signerCert.getSigAlgName() + ", digest SM3, "
                + (result.getCertPath().getCertificates().size() + 1) + " certificates to "
                + root.getSubjectX500Principal().getName());
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args.length == 0) {
            System.out.println("usage: sig|chain|crl|cms ...");
            System.exit(2);
        }
        try {
            switch (args[0]) {
                case "sig": {
                    PublicKey key = KeyFactory.getInstance("EC", "BC").generatePublic(
                            new X509EncodedKeySpec(Files.readAllBytes(Paths.get(args[1]))));
                    Signature verifier = Signature.getInstance("SM3withSM2", "BC");
                    verifier.initVerify(key);
                    verifier.update(Files.readAllBytes(Paths.get(args[2])));
                    if (!verifier.verify(Files.readAllBytes(Paths.get(args[3])))) {
                        System.out.println("signature does not verify");
                        System.exit(1);
                    }
                    System.out.println("signature OK");
                    break;
                }
                case "chain": {
                    X509Certificate root = cert(args[1]);
                    X509Certificate ca = cert(args[2]);
                    X509Certificate leaf = cert(args[3]);
                    root.verify(root.getPublicKey(), "BC");
                    ca.verify(root.getPublicKey(), "BC");
                    leaf.verify(ca.getPublicKey(), "BC");
                    CertificateFactory factory = CertificateFactory.getInstance("X.509", "BC");
                    CertPath path = factory.generateCertPath(Arrays.asList(leaf, ca));
                    PKIXParameters params = new PKIXParameters(
                            Collections.singleton(new TrustAnchor(root, null)));
                    params.setRevocationEnabled(false);
                    params.setSigProvider("BC");
                    CertPathValidator.getInstance("PKIX", "BC").validate(path, params);
                    System.out.println("chain OK: " + leaf.getSigAlgName());
                    break;
                }
                case "crl": {
                    X509Certificate issuer = cert(args[1]);
                    CertificateFactory factory = CertificateFactory.getInstance("X.509", "BC");
                    X509CRL crl;
                    try (FileInputStream in = new FileInputStream(args[2])) {
                        crl = (X509CRL) factory.generateCRL(in);
                    }
                    crl.verify(issuer.getPublicKey(), "BC");
                    System.out.println("crl OK: " + crl.getRevokedCertificates().size()
                            + " revoked");
                    break;
                }
                case "cms":
                    cms(args[1], args[2]);
                    break;
                default:
                    System.out.println("unknown command " + args[0]);
                    System.exit(2);
            }
        } catch (java.security.GeneralSecurityException | CMSException
                | OperatorCreationException e) {
            System.out.println("check failed: " + e);
            System.exit(1);
        }
    }
}
