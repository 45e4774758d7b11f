// An independent implementation, with Bouncy Castle, of the GB/T 38540-2020 / GM/T 0031 seal
// (SESeal) and signature (SES_Signature) and of OFD sealing (GB/T 33190 section 18, as ofdrw
// lays it out). eseal's tests use it to check what eseal makes and to hand eseal's verifier
// files another implementation made. Driven by tests/interop/sescheck.py.
//
//   SesCheck verify-seal SEAL.esl [--at TIME]
//   SesCheck verify-signature SIG.dat [--data FILE] [--at TIME]
//   SesCheck make-seal OUT.esl --maker-key KEY.pem --maker-cert CERT.pem --signer-cert CERT.pem...
//            --picture FILE --name NAME --type N --es-id ID --width MM --height MM
//            --create-date TIME --valid-start TIME --valid-end TIME [--version 4|5] [--vid VID]
//            [--picture-type png] [--cert-list-type 1|2] [--tsa-key KEY.pem --tsa-cert CERT.pem]
//   SesCheck make-signature OUT.dat --seal SEAL.esl --key KEY.pem --cert CERT.pem --data FILE
//            [--version 4|5] [--property-info TEXT] [--time TIME] [--tsa-key K --tsa-cert C]
//   SesCheck add-timestamp IN OUT TOKEN          token (or TimeStampResp) into [0] timeStamp
//   SesCheck sign-ofd IN.ofd OUT.ofd --seal SEAL.esl --key KEY.pem --cert CERT.pem --page N
//            --x MM --y MM --w MM --h MM [--type Seal] [--version 4|5] [--time TIME]
//            [--protect-signatures] [--tsa-key K --tsa-cert C]
//   SesCheck verify-ofd IN.ofd [--at TIME]
//
// TIME is ISO 8601 with an offset (2024-05-01T08:00:00Z). Every mode prints one JSON object.
// Exit 0: the JSON is the answer (a verification's verdict is in it, "valid"); exit 1: the input
// is not the structure it should be, or the request is refused, {"error": "..."}; exit 2: usage.
// The makers refuse nothing a verifier should catch: a seal already expired, a signer not on
// the certList, a wrong version all get made, so tests can hand them to eseal's verifier.

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.bouncycastle.jce.provider.BouncyCastleProvider;

public final class SesCheck {
    private SesCheck() {}

    static final Set<String> FLAGS = Set.of("--protect-signatures");

    /** Positional arguments, options with values (repeatable) and flags. */
    static final class Args {
        final List<String> positional = new ArrayList<>();
        final Map<String, List<String>> options = new HashMap<>();

        Args(String[] argv, int from) {
            for (int i = from; i < argv.length; i++) {
                String a = argv[i];
                if (a.startsWith("--")) {
                    if (FLAGS.contains(a)) {
                        options.computeIfAbsent(a, k -> new ArrayList<>()).add("true");
                    } else {
                        if (i + 1 >= argv.length) {
                            usage("option " + a + " needs a value");
                        }
                        options.computeIfAbsent(a, k -> new ArrayList<>()).add(argv[++i]);
                    }
                } else {
                    positional.add(a);
                }
            }
        }

        String get(String name) {
            List<String> values = options.get(name);
            return values == null ? null : values.get(values.size() - 1);
        }

        String need(String name) {
            String value = get(name);
            if (value == null) {
                usage("missing " + name);
            }
            return value;
        }

        List<String> all(String name) {
            return options.getOrDefault(name, List.of());
        }

        boolean flag(String name) {
            return options.containsKey(name);
        }

        Path path(int index, String what) {
            if (positional.size() <= index) {
                usage("missing " + what);
            }
            return Paths.get(positional.get(index));
        }

        int integer(String name, int fallback) {
            String value = get(name);
            return value == null ? fallback : Integer.parseInt(value);
        }

        Date time(String name, Date fallback) {
            String value = get(name);
            return value == null ? fallback : Ses.parseIso(value);
        }
    }

    static void usage(String why) {
        System.out.println(Ses.json(Map.of("error", "usage: " + why)));
        System.exit(2);
    }

    static void print(Map<String, Object> out) {
        System.out.println(Ses.json(out));
    }

    /** A token over {@code stamped} from --tsa-key/--tsa-cert, or null without them. */
    static byte[] token(Args a, byte[] stamped, Date when) throws Exception {
        String key = a.get("--tsa-key");
        if (key == null) {
            return null;
        }
        PrivateKey tsaKey = Ses.readPrivateKey(Paths.get(key));
        X509Certificate tsaCert = Ses.readCertificate(Paths.get(a.need("--tsa-cert")));
        return Ses.makeToken(stamped, tsaKey, tsaCert, when);
    }

    static void makeSeal(Args a) throws Exception {
        Path out = a.path(0, "OUT.esl");
        Ses.SealSpec spec = new Ses.SealSpec();
        spec.version = a.integer("--version", 4);
        spec.vid = a.get("--vid") == null ? spec.vid : a.get("--vid");
        spec.esId = a.need("--es-id");
        spec.type = Integer.parseInt(a.need("--type"));
        spec.name = a.need("--name");
        spec.certListType = a.integer("--cert-list-type", 1);
        for (String cert : a.all("--signer-cert")) {
            spec.signerCerts.add(Ses.readCertificate(Paths.get(cert)));
        }
        Date now = new Date();
        spec.createDate = a.time("--create-date", now);
        spec.validStart = Ses.parseIso(a.need("--valid-start"));
        spec.validEnd = Ses.parseIso(a.need("--valid-end"));
        spec.picture = Files.readAllBytes(Paths.get(a.need("--picture")));
        spec.pictureType = a.get("--picture-type") == null ? "png" : a.get("--picture-type");
        spec.width = Integer.parseInt(a.need("--width"));
        spec.height = Integer.parseInt(a.need("--height"));
        byte[][] made = spec.build(Ses.readPrivateKey(Paths.get(a.need("--maker-key"))),
                Ses.readCertificate(Paths.get(a.need("--maker-cert"))));
        byte[] seal = made[0];
        byte[] token = token(a, made[1], now);
        if (token != null) {
            if (spec.version != 5) {
                fail("a version 4 SESeal has no timeStamp field");
            }
            seal = Ses.withTimestamp(seal, token);
        }
        Files.write(out, seal);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("version", spec.version);
        report.put("signed_value", Ses.hex(made[1]));
        report.put("timestamp_present", token != null);
        report.put("sm3", Ses.hex(Ses.sm3(seal)));
        print(report);
    }

    static void makeSignature(Args a) throws Exception {
        Path out = a.path(0, "OUT.dat");
        byte[] sealDer = Files.readAllBytes(Paths.get(a.need("--seal")));
        Ses.Seal seal = Ses.Seal.parse(sealDer);
        byte[] data = Files.readAllBytes(Paths.get(a.need("--data")));
        Date when = a.time("--time", new Date());
        int version = a.integer("--version", seal.version);
        String property = a.get("--property-info") == null ? "" : a.get("--property-info");
        byte[][] made = Ses.buildSignature(version, sealDer, when, Ses.sm3(data), property,
                Ses.readPrivateKey(Paths.get(a.need("--key"))),
                Ses.readCertificate(Paths.get(a.need("--cert"))));
        byte[] signature = made[0];
        byte[] token = token(a, made[1], when);
        if (token != null) {
            signature = Ses.withTimestamp(signature, token);
        }
        Files.write(out, signature);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("version", version);
        report.put("data_hash", Ses.hex(Ses.sm3(data)));
        report.put("signature_value", Ses.hex(made[1]));
        report.put("timestamp_present", token != null);
        print(report);
    }

    static void addTimestamp(Args a) throws Exception {
        byte[] in = Files.readAllBytes(a.path(0, "IN"));
        boolean seal = Ses.looksLikeSeal(in);
        if (seal && Ses.Seal.parse(in).version != 5) {
            fail("a version 4 SESeal has no timeStamp field");
        }
        if (!seal) {
            Ses.SesSignature.parse(in);  // refuses what is neither
        }
        byte[] token;
        try {
            token = Ses.tokenBytes(Files.readAllBytes(a.path(2, "TOKEN")));
        } catch (Exception e) {
            throw new Ses.FormatError("TOKEN is neither a TimeStampToken nor a TimeStampResp");
        }
        Files.write(a.path(1, "OUT"), Ses.withTimestamp(in, token));
        print(Map.of("kind", seal ? "seal" : "signature"));
    }

    static void fail(String why) {
        System.out.println(Ses.json(Map.of("error", why)));
        System.exit(1);
    }

    public static void main(String[] argv) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (argv.length == 0) {
            usage("verify-seal|verify-signature|make-seal|make-signature|add-timestamp|"
                    + "sign-ofd|verify-ofd ...");
        }
        Args a = new Args(argv, 1);
        try {
            switch (argv[0]) {
                case "verify-seal" -> print(Ses.Seal.parse(Files.readAllBytes(a.path(0, "SEAL.esl")))
                        .report(a.time("--at", new Date())));
                case "verify-signature" -> {
                    byte[] data = a.get("--data") == null ? null
                            : Files.readAllBytes(Paths.get(a.get("--data")));
                    print(Ses.SesSignature.parse(Files.readAllBytes(a.path(0, "SIG.dat")))
                            .report(data, a.time("--at", new Date())));
                }
                case "make-seal" -> makeSeal(a);
                case "make-signature" -> makeSignature(a);
                case "add-timestamp" -> addTimestamp(a);
                case "sign-ofd" -> print(SesOfd.sign(a));
                case "verify-ofd" -> print(SesOfd.verify(a));
                default -> usage("unknown mode " + argv[0]);
            }
        } catch (Ses.FormatError | SesOfd.Refused e) {
            fail(e.getMessage());
        } catch (Exception e) {  // unreadable files, bad PEM, malformed numbers or times
            fail(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }
}
