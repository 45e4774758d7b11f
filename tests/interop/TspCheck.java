// Bouncy Castle checks eseal's SM2 services: RFC 3161 tokens of the SM2 TSA and RFC 6960
// responses of the SM2 OCSP responder. Compiled and run by tests/interop/test_sm2_tsp.py.
//
//   TspCheck tsp  RESP.tsr DATA TSA.pem CA.pem ROOT.pem   -> "token OK ..." (exit 0)
//   TspCheck ocsp RESP.der CA.pem ROOT.pem                -> one "status SERIAL good|revoked|
//                                                             unknown" line per answer, then
//                                                             "ocsp signature OK" (exit 0)
// Exit 1 with "FAIL: ..." when a check does not hold. SM2 here is Bouncy Castle's: SM3withSM2
// with the default user id 1234567812345678 (GM/T 0009).

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.Security;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.ocsp.BasicOCSPResp;
import org.bouncycastle.cert.ocsp.OCSPResp;
import org.bouncycastle.cert.ocsp.RevokedStatus;
import org.bouncycastle.cert.ocsp.SingleResp;
import org.bouncycastle.cert.ocsp.UnknownStatus;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.tsp.TimeStampResponse;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.tsp.TimeStampTokenInfo;
import org.bouncycastle.util.encoders.Hex;

public final class TspCheck {
    private static final String SM3 = "1.2.156.10197.1.401";

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        try {
            switch (args[0]) {
                case "tsp" -> tsp(args);
                case "ocsp" -> ocsp(args);
                default -> fail("unknown mode " + args[0]);
            }
        } catch (Exception e) {
            fail(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    private static void fail(String why) {
        System.out.println("FAIL: " + why);
        System.exit(1);
    }

    private static X509Certificate cert(String path) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509", "BC");
        return (X509Certificate) cf.generateCertificate(
            new ByteArrayInputStream(Files.readAllBytes(Paths.get(path))));
    }

    /** PKIX path of {@code leaf} and {@code ca} to {@code root}, revocation not checked. */
    private static void path(X509Certificate leaf, X509Certificate ca, X509Certificate root)
            throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509", "BC");
        CertPath cp = cf.generateCertPath(Arrays.asList(leaf, ca));
        PKIXParameters params = new PKIXParameters(
            Collections.singleton(new TrustAnchor(root, null)));
        params.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX", "BC").validate(cp, params);
    }

    private static void tsp(String[] a) throws Exception {
        TimeStampResponse response = new TimeStampResponse(Files.readAllBytes(Paths.get(a[1])));
        if (response.getStatus() != 0) {
            fail("status " + response.getStatus() + ": " + response.getStatusString());
        }
        TimeStampToken token = response.getTimeStampToken();
        X509Certificate tsa = cert(a[3]);
        path(tsa, cert(a[4]), cert(a[5]));
        // signature over the signed attributes, ESSCertID(v2) against the certificate, the
        // certificate's timeStamping EKU (critical) and validity at genTime
        token.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(tsa));
        TimeStampTokenInfo info = token.getTimeStampInfo();
        String imprintAlg = info.getMessageImprintAlgOID().getId();
        if (!imprintAlg.equals(SM3)) {
            fail("imprint algorithm " + imprintAlg + ", not SM3");
        }
        byte[] expected = MessageDigest.getInstance("SM3", "BC").digest(
            Files.readAllBytes(Paths.get(a[2])));
        if (!Arrays.equals(expected, info.getMessageImprintDigest())) {
            fail("the imprint is not the SM3 digest of the data");
        }
        SignerInformation signer = token.toCMSSignedData().getSignerInfos().iterator().next();
        System.out.println("token OK: digest " + signer.getDigestAlgOID()
            + ", signature " + signer.getEncryptionAlgOID()
            + ", serial " + info.getSerialNumber().toString(16)
            + ", genTime " + info.getGenTime().toInstant());
    }

    private static void ocsp(String[] a) throws Exception {
        OCSPResp response = new OCSPResp(Files.readAllBytes(Paths.get(a[1])));
        if (response.getStatus() != OCSPResp.SUCCESSFUL) {
            fail("response status " + response.getStatus());
        }
        BasicOCSPResp basic = (BasicOCSPResp) response.getResponseObject();
        X509CertificateHolder[] certs = basic.getCerts();
        if (certs.length == 0) {
            fail("no responder certificate in the response");
        }
        X509Certificate responder = new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter()
            .setProvider("BC").getCertificate(certs[0]);
        path(responder, cert(a[2]), cert(a[3]));
        if (responder.getExtendedKeyUsage() == null
                || !responder.getExtendedKeyUsage().contains("1.3.6.1.5.5.7.3.9")) {
            fail("the responder certificate lacks OCSPSigning");
        }
        if (!basic.isSignatureValid(
                new JcaContentVerifierProviderBuilder().setProvider("BC").build(responder))) {
            fail("the OCSP response signature does not verify");
        }
        Date now = new Date();
        for (SingleResp single : basic.getResponses()) {
            Object status = single.getCertStatus();
            String name = status == null ? "good"
                : status instanceof RevokedStatus ? "revoked"
                : status instanceof UnknownStatus ? "unknown" : "other";
            BigInteger serial = single.getCertID().getSerialNumber();
            if (single.getThisUpdate().after(new Date(now.getTime() + 300_000))) {
                fail("thisUpdate in the future");
            }
            System.out.println("status " + serial.toString(16) + " " + name);
        }
        System.out.println("ocsp signature OK: " + basic.getSignatureAlgOID().getId()
            + ", responder key id " + Hex.toHexString(
                basic.getResponderId().toASN1Primitive().getKeyHash()));
    }
}
