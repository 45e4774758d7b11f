// Independent SM2 checks with Bouncy Castle, driven by tests/interop/conftest.py.
//
//   SmCheck sig PUBKEY.der MESSAGE SIGNATURE   SM3withSM2 (user id 1234567812345678, BC's default)
//   SmCheck chain ROOT.pem CA.pem LEAF.pem     each link's signature, then PKIX from the root
//   SmCheck crl ISSUER.pem CRL.der             the CRL's signature by the issuer
//
// Prints one line and exits 0 when the check holds, 1 when it does not, 2 on bad usage.
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Collections;

import org.bouncycastle.jce.provider.BouncyCastleProvider;

public final class SmCheck {
    private static X509Certificate cert(String path) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509", "BC");
        try (FileInputStream in = new FileInputStream(path)) {
            return (X509Certificate) factory.generateCertificate(in);
        }
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args.length == 0) {
            System.out.println("usage: sig|chain|crl ...");
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
                default:
                    System.out.println("unknown command " + args[0]);
                    System.exit(2);
            }
        } catch (java.security.GeneralSecurityException e) {
            System.out.println("check failed: " + e);
            System.exit(1);
        }
    }
}
