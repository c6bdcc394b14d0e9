import StylusCore
import XCTest

final class DataPathsTests: XCTestCase {
    func testHomeComesFromTheEnvironment() {
        XCTAssertEqual(DataPaths.userHome(environment: ["HOME": "/tmp/elsewhere"]), "/tmp/elsewhere")
        XCTAssertEqual(DataPaths(environment: ["HOME": "/tmp/elsewhere"]).dataDirectory, "/tmp/elsewhere/.local/share/stylus")
        XCTAssertEqual(DataPaths(environment: ["HOME": "/tmp/elsewhere", "STYLUS_HOME": "/data"]).dataDirectory, "/data")
        // An empty HOME means unset: the account's home, never the file system root.
        XCTAssertFalse(DataPaths.userHome(environment: ["HOME": ""]).isEmpty)
    }

    func testTildeExpandsWithHome() {
        let env = ["HOME": "/tmp/h/"]
        XCTAssertEqual(DataPaths.expandingTilde("~/loras", environment: env), "/tmp/h/loras")
        XCTAssertEqual(DataPaths.expandingTilde("~", environment: env), "/tmp/h")
        XCTAssertEqual(DataPaths.expandingTilde("/abs/~/x", environment: env), "/abs/~/x")
        XCTAssertEqual(DataPaths.expandingTilde("~other/x", environment: env), "~other/x")
        XCTAssertEqual(DataPaths.expandingTilde("rel/x", environment: env), "rel/x")
    }
}
